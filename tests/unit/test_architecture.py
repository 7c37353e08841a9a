"""The core's shape: stages as subpackages, no import cycle, no Prefect in the core."""

import ast
import pkgutil

import lrfinder
from tasks.caching import _module_imports, module_source

CORE_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(lrfinder.__path__, prefix="lrfinder.")
)


def _graph() -> dict[str, set[str]]:
    return {name: _module_imports(name, "lrfinder") - {name} for name in CORE_MODULES}


def test_the_core_is_grouped_into_stage_subpackages():
    packages = {name for name in CORE_MODULES if "." not in name.removeprefix("lrfinder.")}
    subpackages = {name.split(".")[1] for name in CORE_MODULES if name.count(".") == 2}
    assert subpackages == {"data", "model", "engine", "lr", "training", "reporting"}
    assert len(packages - {f"lrfinder.{p}" for p in subpackages}) <= 4, packages


def test_the_core_has_no_import_cycle():
    graph = _graph()
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
