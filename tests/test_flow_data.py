"""The flow end to end under a real Prefect API (own SQLite database) on the shared data."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli import build_parser
from flows.lr_finder import lr_finder
from lrfinder.lr.range_test import COLUMNS
from lrfinder.params import RunSettings, flags
from tests.helpers import (
    ALL_FILES,
    N_TASKS,
    PNG_MAGIC,
    SMALL_SWEEP,
    file_server,
    flow_parameters,
    uci_file_text,
)
from tests.prefect_api import latest_progress, task_states

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]


def run(**parameters) -> tuple[Path, dict[str, str]]:
    state = lr_finder(return_state=True, **flow_parameters(**(SMALL_SWEEP | parameters)))
    run_dir = Path(state.result())
    return run_dir, task_states(state.state_details.flow_run_id, N_TASKS)


@pytest.mark.slow
def test_flow_writes_the_data_files_and_a_split_setting_recomputes_from_the_split(
    workspace, wine_csv, tmp_path
):
    csv = tmp_path / "wine.csv"
    shutil.copy(wine_csv, csv)

    first_dir, _ = run(data=str(csv))
    assert {p.name for p in first_dir.iterdir()} == ALL_FILES
    assert (workspace["artifacts"] / "latest").resolve() == first_dir.resolve()
    report = json.loads((first_dir / "data_report.json").read_text())
    assert report["cleaning"]["rows_clean"] == 6463
    assert report["rows"]["test"] == 1293
    test = pd.read_parquet(first_dir / "test.parquet")
    assert len(test) == 1293
    train = pd.read_parquet(first_dir / "train.parquet")
    features = train.drop(columns="is_good_wine")
    assert features.dtypes.eq("float32").all()
    np.testing.assert_allclose(features.mean(), 0, atol=1e-5)
    np.testing.assert_allclose(features.std(ddof=0), 1, atol=1e-4)
    scaler = json.loads((first_dir / "scaler.json").read_text())
    assert scaler["columns"] == list(features.columns)
    curves = pd.read_parquet(first_dir / "range_test.parquet")
    assert list(curves.columns) == COLUMNS
    assert sorted(curves["replica"].unique()) == [0, 1]
    summary = json.loads((first_dir / "range_test.json").read_text())
    assert summary["mode"] == "batch" and summary["train_rows"] == len(train)
    assert summary["device"] == "cpu:0"  # JAX, the default backend, names it so
    assert summary["steps_run"] == curves["step"].max() + 1
    assert latest_progress("sweep-progress-group-1") == 100.0
    selection = json.loads((first_dir / "selection.json").read_text())
    runs = selection["confirmation"]["runs"]
    # 3 candidates and the baseline, 2 seeds each
    assert len(runs) == 4 * 2 and {r["lr"] for r in runs} >= {selection["chosen_lr"]}
    assert set(selection["suggestions"]) == {"valley", "steepest", "minimum/10", "argmin"}
    for chart in ("lr_finder.png", "confirmation.png"):
        assert (first_dir / chart).read_bytes().startswith(PNG_MAGIC)

    # A cached rerun and a rerun after a data edit: tests/test_quick_flow.py. Here: a split
    # setting recomputes from split-scale on and reuses load-clean.
    _, states = run(data=str(csv), val_seed=1)
    assert states["load-clean"] == "Cached"
    assert states["split-scale"] == "Completed"
    assert states["sweep"] == "Completed"


def test_bad_input_fails_the_run_and_leaves_no_run_folder(workspace, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("a;b\n1;2\n")
    state = lr_finder(return_state=True, **flow_parameters(data=str(csv)))
    assert state.is_failed()
    with pytest.raises(ValueError, match=r"bad\.csv: missing column\(s\)"):
        state.result()
    assert list(workspace["artifacts"].iterdir()) == []


@pytest.mark.slow
def test_download_path_retries_a_transient_failure(workspace, monkeypatch):
    files = {
        "winequality-red.csv": uci_file_text(1599, seed=1).encode(),
        "winequality-white.csv": uci_file_text(4898, seed=2).encode(),
    }
    with file_server(files, failures={"/wine-quality/winequality-white.csv": 1}) as server:
        monkeypatch.setenv("LRFINDER_UCI_BASE_URL", server.base_url)
        run_dir, states = run()
    assert states["locate-data"] == "Completed"
    assert server.requests.count("/wine-quality/winequality-white.csv") == 2
    report = json.loads((run_dir / "data_report.json").read_text())
    assert report["source"]["origin"] == f"download {server.base_url}"
    assert {f["wine_type"] for f in report["source"]["files"]} == {"red", "white"}
    assert report["cleaning"]["rows_read"] == 6497
    assert (workspace["data"] / "winequality-red.csv").read_bytes() == files["winequality-red.csv"]


def test_download_path_does_not_retry_a_missing_file(workspace, monkeypatch):
    with file_server({}) as server:
        monkeypatch.setenv("LRFINDER_UCI_BASE_URL", server.base_url)
        state = lr_finder(return_state=True)
    assert state.is_failed()
    assert len(server.requests) == 1
    assert list(workspace["data"].iterdir()) == []


def test_flow_parameters_are_the_settings_groups_and_the_cli_has_every_setting():
    schema = lr_finder.parameters
    assert list(schema.properties) == list(RunSettings.model_fields)
    assert schema.definitions["ModelSettings"]["properties"]["n_seeds"]["default"] == 8
    help_text = build_parser().format_help()
    for name in flags():
        assert f"--{name.replace('_', '-')}" in help_text
    assert "Seed of the test split" in help_text
