"""Derived cache keys, end to end: a copy of the project runs the flow twice against the real
server; an edit deep in the chain (the engine's stop flag, imported by the engine that the range
test, selection and training run) recomputes exactly the stages that import it."""

import shutil
from pathlib import Path

import pytest

from tests.helpers import N_TASKS, ROOT, SMALL_SWEEP, cli_flags, run_cli
from tests.prefect_api import rest, task_states

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]


def _run(project: Path, argv: list[str], env: dict, api: str) -> str:
    done = run_cli(argv, env, cwd=project)
    assert done.returncode == 0, done.stderr[-3000:]
    newest = rest(api, "flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 1})
    return newest[0]["id"]


def test_an_edit_deep_in_the_chain_recomputes_the_stages_that_import_it(
    prefect_api, wine_sample, tmp_path
):
    project = tmp_path / "project"
    for name in ("lrfinder", "tasks", "flows"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project)
    env = {
        "PYTHONPATH": str(project),
        "LRFINDER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "LRFINDER_DATA_DIR": str(tmp_path / "data"),
    }
    argv = ["--data", str(wine_sample), *cli_flags(SMALL_SWEEP | {"seed": 31})]
    _run(project, argv, env, prefect_api)
    edited = project / "lrfinder" / "engine" / "interrupt.py"
    edited.write_text(edited.read_text() + "\n# an edit that changes no number\n")
    states = task_states(_run(project, argv, env, prefect_api), N_TASKS)
    assert states["load-clean"] == "Cached" and states["split-scale"] == "Cached", states
    for stage in ("sweep", "select", "train"):
        assert states[stage] == "Completed", (stage, states)
