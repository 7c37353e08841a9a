"""The fast tier's end-to-end run: the command line runs the flow on a sample of the wine data
against a real Prefect server (its own SQLite database); the server records every stage and the
artifacts; a rerun in a fresh process finds every stage Cached and prints no TensorFlow CUDA
chatter; an edited data file recomputes from load-clean on instead of reusing stale results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lrfinder.engine.quiet import NO_DRIVER_NOISE
from tests.helpers import ALL_FILES, CACHED_STAGES, N_TASKS, SMALL_SWEEP, cli_flags, run_cli
from tests.prefect_api import rest, task_states

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]

CHARTS = {"lr_finder.png", "confirmation.png", "training_curves.png", "confusion_matrix.png"}
HAS_DRIVER = Path("/proc/driver/nvidia/version").exists()


def make_run(argv: list[str], tmp_path: Path) -> tuple[Path, str, str]:
    """`python -m flows ARGV` in a fresh process, as `make run` starts it; returns the run
    folder, the flow run's id and what the process wrote to stderr."""
    env = {
        "LRFINDER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "LRFINDER_DATA_DIR": str(tmp_path / "data"),
    }
    done = run_cli(argv, env)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("Run outputs: "), done.stdout[-2000:]
    run_dir = Path(last.removeprefix("Run outputs: "))
    name = run_dir.name.split("-", 2)[2]
    # Run names are random word pairs: an earlier run of the session may share this one's.
    query = {"flow_runs": {"name": {"any_": [name]}}, "sort": "START_TIME_DESC", "limit": 1}
    (flow_run,) = rest(os.environ["PREFECT_API_URL"], "flow_runs/filter", query)
    return run_dir, flow_run["id"], done.stderr


def test_the_command_line_runs_reruns_from_cache_and_recomputes_after_an_edit(
    prefect_api, wine_csv, tmp_path
):
    # A quarter of the rows that no other test reads, so that no earlier test cached a stage.
    lines = wine_csv.read_text().splitlines()
    sample = tmp_path / "sample.csv"
    sample.write_text("\n".join([lines[0], *lines[2::4]]) + "\n")
    argv = ["--data", str(sample), *cli_flags(SMALL_SWEEP)]

    run_dir, flow_run_id, _ = make_run(argv, tmp_path)
    assert {p.name for p in run_dir.iterdir()} == ALL_FILES
    assert (tmp_path / "artifacts" / "latest").resolve() == run_dir.resolve()
    states = task_states(flow_run_id, N_TASKS)
    assert all(state == "Completed" for state in states.values()), states
    metrics = json.loads((run_dir / "metrics.json").read_text())
    selection = json.loads((run_dir / "selection.json").read_text())
    assert metrics["chosen_lr"] == selection["chosen_lr"]
    assert len(metrics["seeds"]) == SMALL_SWEEP["n_seeds"], "the flags reached the flow"
    assert (
        metrics["test"]["chosen"]["final"]["rows"]
        == json.loads((run_dir / "data_report.json").read_text())["rows"]["test"]
    )

    found = rest(
        prefect_api, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
    )
    artifacts = {artifact["key"]: artifact for artifact in found if artifact["key"]}
    report = artifacts["lr-report"]["data"]
    assert report.startswith("# Learning-rate report:")
    assert report.splitlines()[1] == f"**Rate to use: {selection['chosen_lr']:.4g}**  "
    assert report.count("](data:image/png;base64,") >= len(CHARTS)
    table = json.loads(artifacts["test-metrics"]["data"])
    accuracy = metrics["test"]["chosen"]["final"]["accuracy"]
    assert table[0]["metric"] == "accuracy" and table[0]["chosen_final"] == pytest.approx(accuracy)
    assert str(run_dir.resolve()) in artifacts["run-files"]["data"]

    again_dir, again_id, console = make_run(argv, tmp_path)
    states = task_states(again_id, N_TASKS)
    assert all(states[stage] == "Cached" for stage in CACHED_STAGES), {
        s: states[s] for s in CACHED_STAGES
    }
    assert again_dir != run_dir and {p.name for p in again_dir.iterdir()} == ALL_FILES
    assert json.loads((again_dir / "metrics.json").read_text())["test"] == metrics["test"]
    assert "Traceback" not in console, console
    if not HAS_DRIVER:
        assert not any(noise in console for noise in NO_DRIVER_NOISE), console

    edited = sample.read_text().splitlines()
    row = next(i for i, line in enumerate(edited) if i and line.split(",")[1])
    fields = edited[row].split(",")
    fields[1] = f"{float(fields[1]) + 0.1:g}"  # fixed acidity of one row
    edited[row] = ",".join(fields)
    sample.write_text("\n".join(edited) + "\n")
    _, edited_id, _ = make_run(argv, tmp_path)
    states = task_states(edited_id, N_TASKS)
    assert all(states[stage] == "Completed" for stage in CACHED_STAGES), states
