"""Own data without surprises, end to end: a bad file ends `make run` with its message as the
last line, a tiny file and an imbalanced target run with warnings, intervals and the
majority-class reference where a user reads them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flows.lr_finder import lr_finder
from lrfinder.data.checks import twin_warning
from lrfinder.data.cleaning import label_rule
from lrfinder.params import DataSettings, SplitSettings
from lrfinder.paths import Paths
from lrfinder.training.evaluation import NO_TWIN_FREE_ROWS
from tasks.data import load_clean, locate_data, split_scale
from tests.helpers import SMALL_SWEEP, flow_parameters, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]


def make_run(args: list[str], artifacts: Path) -> subprocess.CompletedProcess:
    """`make run ARGS` against the session's Prefect server, logging as a user sees it."""
    return run_cli(
        args, {"PREFECT_LOGGING_LEVEL": "INFO", "LRFINDER_ARTIFACTS_DIR": str(artifacts)}
    )


def test_a_data_error_ends_make_run_with_its_message_last_and_status_2(tmp_path, wine_csv):
    bad = tmp_path / "bad.csv"
    lines = wine_csv.read_text().splitlines()[:30]
    lines[20] = lines[20].rsplit(",", 1)[0]  # one field short
    bad.write_text("\n".join(lines) + "\n")
    message = f"{bad}: line 21 has 12 fields, the header has 13."

    plain = make_run(["--data", str(bad)], tmp_path / "artifacts")
    output = (plain.stdout + plain.stderr).strip().splitlines()
    assert plain.returncode == 2, output[-20:]
    assert output[-1].startswith(f"error: {message}")
    assert "Traceback" not in plain.stderr + plain.stdout
    assert len(output) < 20, output
    assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").iterdir())

    debug = make_run(["--data", str(bad), "--debug"], tmp_path / "artifacts")
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr and debug.stderr.strip().splitlines()[-1] == output[-1]


def test_a_tiny_file_runs_with_warnings_honest_intervals_and_no_edge_reading(workspace, wine_csv):
    tiny = workspace["data"] / "tiny.csv"
    tiny.write_text("\n".join(wine_csv.read_text().splitlines()[:21]) + "\n")
    run_dir = Path(lr_finder(**flow_parameters(data=str(tiny))))
    selection = json.loads((run_dir / "selection.json").read_text())
    warnings = "\n".join(selection["warnings"])
    assert "small data: the train split has 12 rows, 1 batch(es) of 32" in warnings
    assert "small data: the validation split has 3 rows" in warnings
    assert "small data: the test split has 4 rows" in warnings
    argmin = selection["suggestions"]["argmin"]
    assert argmin["lr"] is None and "never diverged" in argmin["no_reading"]
    assert "argmin: no reading on 8 of 8 replicas" in warnings
    metrics = json.loads((run_dir / "metrics.json").read_text())
    low, high = metrics["test"]["chosen"]["intervals"]["accuracy"]
    assert high - low > 0.4, "four test rows cannot pin accuracy down"
    report = (run_dir / "report.md").read_text()
    assert "## Warnings" in report and "95 % intervals on 4 test rows" in report


def test_an_imbalanced_target_gets_warnings_its_metrics_and_a_tuned_threshold(workspace, wine_csv):
    settings = SMALL_SWEEP | {"max_epochs": 6, "patience": 3, "class_weight": "balanced"}
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), threshold=8, **settings)))
    selection = json.loads((run_dir / "selection.json").read_text())
    assert selection["warnings"][0].startswith("imbalanced classes: class '1' is 3.")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    for key in ("balanced_accuracy", "average_precision", "mcc"):
        assert key in test["chosen"]["final"] and key in test["trivial"]
    assert test["trivial"]["balanced_accuracy"] == 0.5 and test["trivial"]["mcc"] == 0.0
    tuned = metrics["decision_threshold"]
    assert tuned["objective"] == "f1" and 0 < tuned["chosen"] < 1
    at_tuned = test["chosen"]["final_at_tuned_threshold"]
    assert at_tuned["threshold"] == tuned["chosen"]
    # Balanced class weights make the model call positives at 0.5, unlike the majority class.
    assert test["chosen"]["final"]["recall"] > 0.3
    report = (run_dir / "report.md").read_text()
    assert "## Warnings\n- imbalanced classes" in report and "| majority class |" in report
    assert "Decision thresholds tuned for **f1**" in report


def test_a_file_of_repeated_rows_completes_warned_and_a_grouped_split_of_it_has_no_twins(
    workspace, wine_csv
):
    lines = wine_csv.read_text().splitlines()
    repeated = workspace["data"] / "repeated.csv"
    repeated.write_text("\n".join([lines[0], *(lines[1:101] * 20)]) + "\n")
    small = SMALL_SWEEP | {"data": str(repeated)}

    run_dir = Path(lr_finder(**flow_parameters(**small)))
    selection = json.loads((run_dir / "selection.json").read_text())
    (warning,) = [w for w in selection["warnings"] if w.startswith("repeated rows:")]
    assert "--split-strategy grouped" in warning
    metrics = json.loads((run_dir / "metrics.json").read_text())
    empty = {"rows": 0, "reason": NO_TWIN_FREE_ROWS}
    assert metrics["test_without_twins"] == empty
    assert metrics["reference"]["test_without_twins"] == empty
    report = (run_dir / "report.md").read_text()
    assert warning in report and "(0 rows)\nNo metrics: no test row without a twin" in report

    source = locate_data.fn(str(repeated), Paths.from_env())
    clean = load_clean.fn(
        source, label_rule(DataSettings(target=None, threshold=6, positive_label=None))
    )
    grouped = split_scale.fn(clean, SplitSettings(split_strategy="grouped"))
    leakage = grouped.report["leakage"]
    assert leakage["val_rows_with_twin_in_train"] == 0
    assert leakage["test_rows_with_twin_in_train_or_val"] == 0
    assert twin_warning(grouped) is None
