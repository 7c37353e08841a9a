"""The code's shape: a layer order no import climbs, no import cycle in the core, no Prefect in
the core (docs/architecture.md#layers)."""

import ast
import pkgutil

import bench
import flows
import lrfinder
import ops
import runtime
import tasks
from runtime.imports import module_imports, module_path, module_source

# From the bottom; a module belongs to the layer of the longest prefix that names it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("lrfinder.errors", "lrfinder.fileio", "lrfinder.paths", "lrfinder.names"),
    ("lrfinder.metric_names", "lrfinder.params"),
    ("lrfinder.data",),
    ("lrfinder.model", "lrfinder.engine"),
    ("lrfinder.training",),
    ("lrfinder.lr",),
    ("lrfinder.reporting",),
    ("lrfinder", "lrfinder.finder"),
    ("runtime",),
    ("tasks",),
    ("flows",),
    ("ops",),
    ("bench",),
)
PACKAGES = (lrfinder, runtime, tasks, flows, ops, bench)


def _modules(package) -> list[str]:
    inner = pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    names = [package.__name__, *sorted(info.name for info in inner)]
    return [name for name in names if module_path(name) is not None]  # ops/ has no __init__


MODULES = [name for package in PACKAGES for name in _modules(package)]
CORE_MODULES = _modules(lrfinder)


def layer_of(name: str) -> int:
    """The layer of module `name`: that of the longest prefix in LAYERS that names it."""
    best, length = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best


def _imports(name: str) -> set[str]:
    """The project's modules that `name` imports anywhere: in functions, and for type checkers."""
    found: set[str] = set()
    for package in PACKAGES:
        found |= module_imports(name, package.__name__, type_checking=True)
    return found - {name}


def test_no_import_climbs_the_layer_order():
    climbs = [
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name in MODULES
        for target in sorted(_imports(name))
        if layer_of(target) > layer_of(name)
    ]
    assert not climbs, "\n".join(climbs)


def test_the_layer_test_also_sees_imports_for_type_checkers(tmp_path, monkeypatch):
    package = tmp_path / "layerdemo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from layerdemo import high\n"
    )
    (package / "high.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_imports("layerdemo.low", "layerdemo", type_checking=True) == {"layerdemo.high"}
    assert module_imports("layerdemo.low", "layerdemo") == set(), "cache keys skip them"


def test_the_core_is_grouped_into_stage_subpackages():
    subpackages = {name.split(".")[1] for name in CORE_MODULES if name.count(".") == 2}
    assert subpackages == {"data", "model", "engine", "lr", "training", "reporting"}


def test_the_core_has_no_import_cycle():
    graph = {name: module_imports(name, "lrfinder") - {name} for name in CORE_MODULES}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                raise AssertionError(" -> ".join([*path, name, target]))
            if target not in state:
                visit(target, [*path, name])
        state[name] = "done"

    for name in CORE_MODULES:
        if name not in state:
            visit(name, [])


def test_the_core_imports_no_prefect():
    for name in CORE_MODULES:
        for node in ast.walk(ast.parse(module_source(name))):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            assert not any(m.split(".")[0].startswith("prefect") for m in modules), name
