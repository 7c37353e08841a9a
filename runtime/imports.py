"""Which modules a module or a function imports, read from the source (no import happens, so
TensorFlow stays unloaded): what cache keys hash, and what the architecture test checks."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

CORE = "lrfinder"


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


def module_imports(name: str, root: str, type_checking: bool = False) -> set[str]:
    """Modules under `root` that module `name` imports anywhere in its source (inside functions
    too); with `type_checking`, also those imported for type checkers only."""
    path = module_path(name)
    package = name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]
    tree = _parse(module_source(name))
    found = set()
    for node in ast.walk(tree) if type_checking else _run_time_nodes(tree):
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
                pending.extend(module_imports(module, root))
    return sorted(seen)
