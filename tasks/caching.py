"""Cache keys from content: file hashes, upstream fingerprints, settings and code; and locks
that keep runs at the same time from computing or writing one cache record twice.

A stage's key covers the content of its inputs, its settings (where replicas run excepted: it
never changes their numbers), its own source, and the source of every core
module it imports, found by reading the import statements (no import happens, so TensorFlow
stays unloaded) and following them through the core package."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import fcntl
import importlib.util
import inspect
import os
import re
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.settings import get_current_settings
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel

from lrfinder.engine.backend_name import backend_name
from lrfinder.fileio import sha256_file
from lrfinder.params import Group, ModelSettings

CORE = "lrfinder"
ENGINE = "lrfinder.engine.replicas"
LOCKS = ".locks"  # in the local result storage
POLL_S = 0.1


def stable_form(value: Any) -> Any:
    """A hashable stand-in for `value` that depends on content, never on file names or ids."""
    if hasattr(value, "fingerprint"):
        return f"{type(value).__name__}:{value.fingerprint}"
    if isinstance(value, Path):
        return f"file:{sha256_file(value)}"
    if isinstance(value, Group):
        kept = value.model_dump(exclude=set(value.NOT_IN_KEYS))
        return {type(value).__name__: stable_form(kept)}
    if isinstance(value, BaseModel):
        return {type(value).__name__: stable_form(value.model_dump())}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {type(value).__name__: stable_form(fields)}
    if isinstance(value, dict):
        return {str(k): stable_form(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [stable_form(v) for v in value]
    return value


def module_path(name: str) -> Path | None:
    """The file of module `name` inside its top-level package, found without importing it (or
    anything above it but the top-level package); None when there is no such module."""
    top, *rest = name.split(".")
    spec = importlib.util.find_spec(top)
    if spec is not None and not rest and spec.origin and Path(spec.origin).is_file():
        return Path(spec.origin)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def module_source(name: str) -> str:
    """Source text of module `name`, read without importing it."""
    path = module_path(name)
    if path is None:
        raise ModuleNotFoundError(name)
    return path.read_text(encoding="utf-8")


def _imported(node: ast.AST, package: str) -> dict[str, str]:
    """Names bound by an import statement -> the module (or module attribute) they stand for."""
    bound: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            bound[alias.asname or alias.name.split(".")[0]] = alias.name
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{parent}.{base}" if base else parent
        for alias in node.names:
            bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    return bound


def _as_module(target: str) -> str:
    """`pkg.mod.name` -> `pkg.mod.name` if that is a module, else `pkg.mod`."""
    return target if module_path(target) is not None else target.rsplit(".", 1)[0]


def _with_parents(name: str) -> list[str]:
    """A module and the packages above it (each package's __init__ runs on import)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


PARSING = threading.Lock()
PARSE_ATTEMPTS = 3


def _parse(source: str) -> ast.Module:
    """`ast.parse`, one of our threads at a time and tried again on a SystemError: CPython
    3.11's parser fails now and then with "AST constructor recursion depth mismatch" when
    another thread parses at the same moment, and the task's cache key would then be lost
    (the stage recomputed instead of Cached)."""
    with PARSING:
        for _ in range(PARSE_ATTEMPTS - 1):
            try:
                return ast.parse(source)
            except SystemError:
                continue
        return ast.parse(source)


def _module_imports(name: str, root: str) -> set[str]:
    """Modules under `root` that module `name` imports anywhere in its source."""
    path = module_path(name)
    package = name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]
    tree = _parse(module_source(name))
    found = set()
    for node in _run_time_nodes(tree):
        for target in _imported(node, package).values():
            if target.split(".")[0] == root:
                found.add(_as_module(target))
    return found


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except those under `if TYPE_CHECKING:` (imports for type checkers
    only, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for part in node.body for inner in ast.walk(part))
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def function_imports(fn: Callable, root: str = CORE) -> set[str]:
    """Modules under `root` that `fn` uses: imported in its body, or imported by its module
    under a name its body (or signature) refers to."""
    module = sys.modules[fn.__module__]
    tree = _parse(inspect.getsource(module))
    package = module.__name__.rpartition(".")[0]
    names: dict[str, str] = {}
    for node in tree.body:
        names.update(_imported(node, package))
    own = _parse(textwrap.dedent(inspect.getsource(fn)))
    found = set()
    for node in ast.walk(own):
        targets = list(_imported(node, package).values())
        if isinstance(node, ast.Name) and node.id in names:
            targets.append(names[node.id])
        found.update(_as_module(t) for t in targets if t.split(".")[0] == root)
    return found


def core_modules(fn: Callable, root: str = CORE) -> list[str]:
    """Every module under `root` that `fn` depends on, directly or through other modules."""
    seen: set[str] = set()
    pending = list(function_imports(fn, root))
    while pending:
        name = pending.pop()
        for module in _with_parents(name):
            if module not in seen:
                seen.add(module)
                pending.extend(_module_imports(module, root))
    return sorted(seen)


class RecordLocks:
    """Prefect's lock manager protocol on OS file locks (flock), one file per cache key in
    `.locks/` of the local result storage: a second run (another process or thread) that needs
    a record being computed waits for it and then reads it, so a record is only ever written by
    one writer and never read while it is written; the kernel releases the lock of a process
    that dies, even by SIGKILL (Prefect's own file locks would stay taken)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[str, tuple[str, int]] = {}  # key -> holder, open file descriptor

    def __deepcopy__(self, memo: dict) -> RecordLocks:
        return self  # one per process: it knows which locks this process holds

    def __reduce__(self) -> tuple:
        return (RecordLocks, ())

    @staticmethod
    def path(key: str) -> Path:
        """The lock file of `key`, in the local result storage as configured now."""
        folder = Path(get_current_settings().results.local_storage_path) / LOCKS
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".lock")

    def _try_acquire(self, key: str, holder: str) -> bool:
        with self._mutex:
            if key in self._held:
                return self._held[key][0] == holder
            fd = os.open(self.path(key), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._held[key] = (holder, fd)
            return True

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take the lock, waiting up to `acquire_timeout` s (None: as long as it takes); held
        until released or until the process ends (`hold_timeout` does not apply)."""
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while not self._try_acquire(key, holder):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while not self._try_acquire(key, holder):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        with self._mutex:
            if self._held.get(key, ("", 0))[0] != holder:
                raise ValueError(f"No lock held by {holder} for transaction with key {key}")
            _, fd = self._held.pop(key)
            os.close(fd)  # closing the descriptor releases the lock

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            if key in self._held:
                return True
        try:
            fd = os.open(self.path(key), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._mutex:
            return self._held.get(key, ("", 0))[0] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True


RECORD_LOCKS = RecordLocks()


def content_cache() -> CachePolicy:
    """Key = task source + source of the core modules the task depends on + content of every
    argument (of execution settings, only what changes numbers) + the Keras backend, for tasks
    that run the engine + the source of a model file's custom-layer module. The sources are read once per process, at the task's
    first run: the key describes the code that runs, even if a file changes on disk later.
    Serializable: a run takes the key's lock before it looks the record up, so of two runs at
    once that need it, one computes and writes it and the other then reads it (`Cached`)."""
    code_of: dict[Callable, dict[str, str]] = {}

    def key(context: Any, parameters: dict[str, Any]) -> str | None:
        fn = context.task.fn
        if fn not in code_of:
            code_of[fn] = {name: module_source(name) for name in core_modules(fn)}
        # The engine's numbers depend on the Keras backend it runs on, and on the source of the
        # module that registers a model file's custom layers, too.
        backend = [backend_name()] if ENGINE in code_of[fn] else []
        custom = [
            module_source(value.custom_module)
            for value in parameters.values()
            if isinstance(value, ModelSettings) and value.custom_module
        ]
        return hash_objects(
            code_of[fn], stable_form(parameters), *backend, *custom, raise_on_failure=True
        )

    policy = TASK_SOURCE + CachePolicy.from_cache_key_fn(key)
    return policy.configure(isolation_level="SERIALIZABLE", lock_manager=RECORD_LOCKS)
