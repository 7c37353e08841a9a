"""The run history, the comparison with the previous run and the promotion rule, on plain
records and a temporary artifacts folder."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from lrfinder.data.sources import DataSource, SourceFile
from lrfinder.reporting.comparison import (
    changes,
    dropped,
    history_rows,
    promotion,
    since_last_run,
)
from lrfinder.reporting.history import (
    HISTORY,
    PRODUCTION,
    Measured,
    RunRecord,
    data_identity,
    read_history,
    record_run,
)
from lrfinder.reporting.plots import history_chart

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SETTINGS = {"n_seeds": 8, "max_epochs": 100, "gate_value": None}


def _record(n: int = 0, **changed) -> RunRecord:
    """Run `n` of the nightly deployment: accuracy 0.78 [0.76, 0.80], one day after run n-1."""
    record = RunRecord(
        run_id=f"id-{n}",
        run_name=f"run-{n}",
        deployment="lr-finder/nightly",
        started=START + timedelta(days=n),
        run_folder=f"2026120{n + 1}-020000-run-{n}",
        data_sha256="a" * 64,
        test_rows_sha256="t" * 64,
        rows=6463,
        task="binary",
        settings=json.dumps(SETTINGS),
        chosen_lr=0.002,
        baseline_lr=0.001,
        metric="accuracy",
        chosen=Measured(0.78, 0.76, 0.80),
        reference=Measured(0.79, 0.77, 0.81),
        gate_metric="accuracy",
        gate_passed=True,
        gate_message=None,
        duration_s=120.0,
        warnings=("steepest: replicas disagree",),
    )
    return replace(record, **changed)


def _rmse(n: int, value: float, low: float, high: float, **changed) -> RunRecord:
    return _record(
        n, task="regression", metric="rmse", chosen=Measured(value, low, high), **changed
    )


def test_a_record_survives_the_parquet_file_and_a_retry_replaces_its_row(tmp_path):
    first = record_run(tmp_path, _record(0)).record
    assert read_history(tmp_path / HISTORY) == [first] and first.promoted
    again = record_run(tmp_path, _record(0, duration_s=300.0))
    retried = again.record
    assert read_history(tmp_path / HISTORY) == [retried] and retried.duration_s == 300.0
    assert again.again and retried.promoted and retried.promotion == first.promotion
    second = record_run(tmp_path, _record(1, gate_message="x", gate_passed=False))
    frame = pd.read_parquet(tmp_path / HISTORY)
    assert frame["run_name"].tolist() == ["run-0", "run-1"]
    assert {"chosen_value", "chosen_low", "reference_high", "warnings"} <= set(frame.columns)
    assert second.history[-1].gate_message == "x" and second.previous == retried


def test_a_history_written_before_a_new_column_still_reads(tmp_path):
    record_run(tmp_path, _record(0))
    frame = pd.read_parquet(tmp_path / HISTORY).drop(columns=["promotion", "warnings"])
    frame.to_parquet(tmp_path / HISTORY)
    (old,) = read_history(tmp_path / HISTORY)
    assert old.promotion == "" and old.warnings == () and old.chosen == Measured(0.78, 0.76, 0.80)


def _append(folder: str, n: int) -> None:
    record_run(Path(folder), _record(n))


def test_runs_finishing_together_all_land_in_the_history(tmp_path):
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that runs JAX threads
    with ProcessPoolExecutor(max_workers=4, mp_context=spawn) as pool:
        list(pool.map(_append, [str(tmp_path)] * 12, range(12)))
    history = read_history(tmp_path / HISTORY)
    assert sorted(r.run_id for r in history) == sorted(f"id-{n}" for n in range(12))
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_a_run_is_compared_with_the_previous_run_of_its_own_deployment(tmp_path):
    record_run(tmp_path, _record(0))
    record_run(tmp_path, _record(1, deployment=None))
    nightly = record_run(tmp_path, _record(2))
    ad_hoc = record_run(tmp_path, _record(3, deployment=None))
    assert nightly.previous.run_id == "id-0" and ad_hoc.previous.run_id == "id-1"
    first = record_run(tmp_path, _record(4, deployment="lr-finder/weekly"))
    assert first.previous is None
    assert "first recorded run of deployment lr-finder/weekly" in since_last_run(first)


def test_production_moves_only_when_the_rule_promotes(tmp_path):
    def production() -> str:
        return os.readlink(tmp_path / PRODUCTION)

    first = record_run(tmp_path, _record(0)).record
    assert first.promoted and production() == first.run_folder
    assert "no production model yet" in first.promotion
    same = record_run(tmp_path, _record(1, chosen=Measured(0.795, 0.775, 0.815)))
    assert not same.record.promoted and production() == first.run_folder
    assert same.production == first
    assert "not better than production's" in same.record.promotion
    better = record_run(tmp_path, _record(2, chosen=Measured(0.81, 0.79, 0.83))).record
    assert better.promoted and production() == better.run_folder
    failed = _record(3, chosen=Measured(0.9, 0.88, 0.92), gate_passed=False, gate_message="no")
    assert not record_run(tmp_path, failed).record.promoted
    assert production() == better.run_folder


def test_ad_hoc_runs_and_models_of_another_task_are_not_promoted(tmp_path):
    ad_hoc = record_run(tmp_path, _record(0, deployment=None)).record
    assert not ad_hoc.promoted and "ad-hoc run" in ad_hoc.promotion
    assert not (tmp_path / PRODUCTION).is_symlink()
    production = _record(1)
    other_task = _rmse(2, 0.5, 0.45, 0.55, test_rows_sha256="u" * 64)
    promoted, why = promotion(other_task, production)
    assert not promoted and "remove artifacts/production" in why


def test_on_other_test_rows_a_run_is_promoted_unless_worse_beyond_both_intervals():
    production = _record(0)
    other_rows = {"test_rows_sha256": "u" * 64, "data_sha256": "b" * 64}
    keeps_up = _record(1, chosen=Measured(0.75, 0.73, 0.77), **other_rows)
    promoted, why = promotion(keeps_up, production)
    assert promoted and "two intervals together" in why and "different test rows" in why
    worse = _record(1, chosen=Measured(0.72, 0.70, 0.74), **other_rows)
    assert not promotion(worse, production)[0]


def test_lower_is_better_metrics_are_judged_the_other_way():
    production = _rmse(0, 0.60, 0.55, 0.65)
    assert promotion(_rmse(1, 0.50, 0.46, 0.54), production)[0], "lower beyond the interval"
    assert not promotion(_rmse(1, 0.58, 0.53, 0.63), production)[0], "within the interval"
    other = {"test_rows_sha256": "u" * 64}
    assert promotion(_rmse(1, 0.68, 0.63, 0.73, **other), production)[0]
    assert not promotion(_rmse(1, 0.80, 0.74, 0.86, **other), production)[0]
    assert dropped(_rmse(1, 0.70, 0.66, 0.74), production)
    assert not dropped(_rmse(1, 0.62, 0.57, 0.67), production)


def test_what_changed_since_the_last_run_is_named():
    previous = _record(0)
    settings = json.dumps(SETTINGS | {"gate_value": 0.99})
    current = _record(
        1,
        data_sha256="b" * 64,
        test_rows_sha256="u" * 64,
        rows=6000,
        settings=settings,
        chosen_lr=0.008,
        chosen=Measured(0.70, 0.68, 0.72),
    )
    found = changes(current, previous)
    assert "The data changed: sha256 aaaaaaaaaaaa… → bbbbbbbbbbbb… (6,463 → 6,000 rows)." in found
    assert "Settings changed: gate_value None → 0.99." in found
    assert "The chosen rate moved 0.002 → 0.008 (4x)." in found
    assert any("dropped beyond the previous run's interval" in line for line in found)
    assert dropped(current, previous)
    unchanged = changes(_record(1), previous)
    assert unchanged[:3] == [
        "The data is unchanged (sha256 aaaaaaaaaaaa…).",
        "The settings are unchanged.",
        "The chosen rate is unchanged (0.002).",
    ]
    assert "stayed within the previous run's interval" in unchanged[3]
    slower = changes(_record(1, chosen_lr=0.0005), previous)
    assert "The chosen rate moved 0.002 → 0.0005 (1/4)." in slower


def test_the_history_table_and_chart_show_the_newest_runs(tmp_path):
    for n in range(4):
        recorded = record_run(tmp_path, _record(n, chosen_lr=0.001 * (n + 1)))
    rows = history_rows(recorded.history, shown=3)
    assert [row["run"] for row in rows] == ["run-3", "run-2", "run-1"]
    assert rows[0]["test value [95 % interval]"] == "0.7800 [0.7600, 0.8000]"
    assert rows[0]["metric"] == "accuracy" and rows[0]["promoted"] == "no"
    figure = history_chart(recorded.history)
    assert len(figure.axes) == 2 and figure.axes[0].get_yscale() == "log"


@pytest.mark.parametrize("gate_passed", [True, False])
def test_the_report_section_says_whether_the_run_was_promoted_and_why(tmp_path, gate_passed):
    record_run(tmp_path, _record(0))
    message = None if gate_passed else "quality gate: test accuracy below 0.99"
    recorded = record_run(tmp_path, _record(1, gate_passed=gate_passed, gate_message=message))
    section = since_last_run(recorded)
    assert section.startswith("## Since the last run\nCompared with run run-0")
    expected = "beyond its interval" if gate_passed else "did not pass the quality gate"
    assert "**Not promoted**: " in section and expected in section


def test_the_data_identity_is_the_files_sha256_or_the_pairs_fingerprint():
    one = DataSource((SourceFile(Path("a.csv"), "c" * 64),), "a.csv")
    pair = DataSource(
        (SourceFile(Path("w.csv"), "c" * 64, "white"), SourceFile(Path("r.csv"), "d" * 64, "red")),
        "uci",
    )
    assert data_identity(one) == "c" * 64
    assert data_identity(pair) == pair.fingerprint and len(data_identity(pair)) == 64
