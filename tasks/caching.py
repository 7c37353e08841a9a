"""Cache keys from content: file hashes, upstream fingerprints, settings and code.

A stage's key covers the content of its inputs, its settings (where replicas run excepted: it
never changes their numbers), its own source, and the source of every core
module it imports, found by reading the import statements (no import happens, so TensorFlow
stays unloaded) and following them through the core package."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel

from lrfinder.engine.backend_name import backend_name
from lrfinder.fileio import sha256_file
from lrfinder.params import ExecutionSettings

CORE = "lrfinder"
ENGINE = "lrfinder.engine.stacked"


def stable_form(value: Any) -> Any:
    """A hashable stand-in for `value` that depends on content, never on file names or ids."""
    if hasattr(value, "fingerprint"):
        return f"{type(value).__name__}:{value.fingerprint}"
    if isinstance(value, Path):
        return f"file:{sha256_file(value)}"
    if isinstance(value, ExecutionSettings):
        kept = value.model_dump(exclude=set(ExecutionSettings.PLACEMENT_ONLY))
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


def _module_imports(name: str, root: str) -> set[str]:
    """Modules under `root` that module `name` imports anywhere in its source."""
    path = module_path(name)
    package = name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(module_source(name))
    found = set()
    for node in ast.walk(tree):
        for target in _imported(node, package).values():
            if target.split(".")[0] == root:
                found.add(_as_module(target))
    return found


def function_imports(fn: Callable, root: str = CORE) -> set[str]:
    """Modules under `root` that `fn` uses: imported in its body, or imported by its module
    under a name its body (or signature) refers to."""
    module = sys.modules[fn.__module__]
    tree = ast.parse(inspect.getsource(module))
    package = module.__name__.rpartition(".")[0]
    names: dict[str, str] = {}
    for node in tree.body:
        names.update(_imported(node, package))
    own = ast.parse(textwrap.dedent(inspect.getsource(fn)))
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


def content_cache() -> CachePolicy:
    """Key = task source + source of the core modules the task depends on + content of every
    argument (of execution settings, only what changes numbers) + the Keras backend, for tasks
    that run the engine. The sources are read once per process, at the task's
    first run: the key describes the code that runs, even if a file changes on disk later."""
    code_of: dict[Callable, dict[str, str]] = {}

    def key(context: Any, parameters: dict[str, Any]) -> str | None:
        fn = context.task.fn
        if fn not in code_of:
            code_of[fn] = {name: module_source(name) for name in core_modules(fn)}
        # The engine's numbers depend on the Keras backend it runs on, too.
        backend = [backend_name()] if ENGINE in code_of[fn] else []
        return hash_objects(code_of[fn], stable_form(parameters), *backend, raise_on_failure=True)

    return TASK_SOURCE + CachePolicy.from_cache_key_fn(key)
