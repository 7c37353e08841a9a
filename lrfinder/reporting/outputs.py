"""The run's files: the JSON records of its results (made here and nowhere else), its folder
under artifacts/, its data files and the `latest` link."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from lrfinder.data.cleaning import CleanData
from lrfinder.data.sources import DataSource
from lrfinder.data.splitting import SplitData
from lrfinder.fileio import (
    atomic_path,
    exclusive_lock,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from lrfinder.lr.suggest import Aggregate
from lrfinder.training.results import Comparison, Evaluation, GroupScores, NoRows, Scores

if TYPE_CHECKING:
    from lrfinder.lr.confirm import Rung
    from lrfinder.lr.selection import Selection  # its module imports the engine

LATEST = "latest"


def _given(record: dict) -> dict:
    """`record` without its keys whose value is None (optional parts a run did not make)."""
    return {key: value for key, value in record.items() if value is not None}


def suggestion_record(agg: Aggregate) -> dict:
    """A curve reading as `selection.json` holds it: no rate or spread where it read no curve."""
    return {
        "lr": agg.suggested,
        "spread": agg.spread if agg.read else None,
        "disagree": agg.disagree,
        "per_replica": agg.per_replica,
        **({"no_reading": agg.no_reading} if agg.no_reading else {}),
    }


def selection_record(selection: Selection) -> dict:
    """`selection.json`: the chosen rate, why, every curve reading, the warnings, the settings
    and the race: its protocol, rungs (each racer's median and the candidates kept), and runs."""
    confirmation = selection.confirmation
    return {
        "chosen_lr": selection.chosen_lr,
        "reason": selection.reason,
        "method": selection.method,
        "suggestions": {name: suggestion_record(a) for name, a in selection.aggregates.items()},
        "warnings": list(selection.warnings),
        "config": selection.settings.model_dump(),
        "confirmation": None
        if confirmation is None
        else {
            "center": selection.center,
            "baseline_lr": confirmation.baseline_lr,
            "protocol": selection.protocol.model_dump(),
            "extensions": confirmation.extensions,
            "decided_by": confirmation.decided_by,
            "rungs": [rung_record(rung) for rung in confirmation.rungs],
            "by_rate": confirmation.by_rate.to_dict("records"),
            "runs": confirmation.table.to_dict("records"),
        },
    }


def rung_record(rung: Rung) -> dict:
    """One rung of the race, its rates as JSON keys (JSON has no float keys)."""
    record = asdict(rung)
    record["medians"] = [{"lr": lr, "median": m} for lr, m in rung.medians.items()]
    return record


def scores_record(scores: Scores | NoRows) -> dict:
    return {"rows": 0, "reason": scores.reason} if isinstance(scores, NoRows) else scores


def comparison_record(comparison: Comparison | NoRows) -> dict:
    if isinstance(comparison, NoRows):
        return scores_record(comparison)

    def group(scores: GroupScores) -> dict:
        return _given(asdict(scores))

    return _given(
        {
            "final_model": comparison.final_model,
            "chosen": group(comparison.chosen),
            "baseline": group(comparison.baseline),
            "difference": comparison.difference,
            "trivial": comparison.trivial,
        }
    )


def metrics_record(evaluation: Evaluation) -> dict:
    """`metrics.json`: the evaluation without its per-row predictions."""
    e = evaluation
    reference = e.reference
    validation = e.validation
    return _given(
        {
            "task": e.task,
            "classes": e.classes,
            "chosen_lr": e.chosen_lr,
            "baseline_lr": e.baseline_lr,
            "seeds": e.seeds,
            "refit": e.refit,
            "no_refit_because": e.no_refit_because,
            "epochs": e.epochs,
            "test": comparison_record(e.test),
            "test_without_twins": comparison_record(e.test_without_twins),
            "reference": _given(
                {
                    **asdict(reference),
                    "test_without_twins": None
                    if reference.test_without_twins is None
                    else scores_record(reference.test_without_twins),
                }
            ),
            "validation": None
            if validation is None
            else {
                "rows": validation.rows,
                "checked_rows": validation.checked_rows,
                **comparison_record(validation.comparison),
            },
            "decision_threshold": None
            if e.decision_threshold is None
            else asdict(e.decision_threshold),
        }
    )


def run_folder_name(started: datetime, run_name: str) -> str:
    """Sortable and unique per run: `20261128-153000-witty-lemur`."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", run_name).strip("-") or "run"
    return f"{started:%Y%m%d-%H%M%S}-{slug}"


def data_report(source: DataSource, clean: CleanData, split: SplitData) -> dict:
    """Everything learned while loading and splitting, for `data_report.json`."""
    return {"source": source.describe(), "cleaning": clean.report, **split.report}


def write_data_outputs(
    run_dir: Path, source: DataSource, clean: CleanData, split: SplitData
) -> dict[str, Path]:
    """Write train/val/test Parquet, `scaler.json` and `data_report.json`, each atomically."""
    written = {
        f"{name}.parquet": write_parquet_atomic(run_dir / f"{name}.parquet", frame)
        for name, frame in split.frames().items()
    }
    written["scaler.json"] = write_json_atomic(run_dir / "scaler.json", split.scaler)
    report = data_report(source, clean, split)
    written["data_report.json"] = write_json_atomic(run_dir / "data_report.json", report)
    return written


def write_range_test(run_dir: Path, table: pd.DataFrame, summary: dict) -> dict[str, Path]:
    """Write `range_test.parquet` (tidy per-step table) and `range_test.json` (summary)."""
    return {
        "range_test.parquet": write_parquet_atomic(run_dir / "range_test.parquet", table),
        "range_test.json": write_json_atomic(run_dir / "range_test.json", summary),
    }


def write_figure_atomic(target: Path, figure: Figure) -> Path:
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png")
    return target


def write_selection(
    run_dir: Path, selection: Selection, charts: dict[str, Figure]
) -> dict[str, Path]:
    """Write `selection.json` and each chart (`lr_finder.png`, `confirmation.png`) as PNG."""
    record = selection_record(selection)
    written = {"selection.json": write_json_atomic(run_dir / "selection.json", record)}
    for name, figure in charts.items():
        written[name] = write_figure_atomic(run_dir / name, figure)
    return written


def write_model_outputs(
    run_dir: Path, evaluation: Evaluation, card: str, charts: dict[str, Figure]
) -> dict[str, Path]:
    """Write `metrics.json`, `predictions.parquet`, `model_card.md` and the charts."""
    predictions = evaluation.predictions
    written = {
        "metrics.json": write_json_atomic(run_dir / "metrics.json", metrics_record(evaluation)),
        "predictions.parquet": write_parquet_atomic(run_dir / "predictions.parquet", predictions),
        "model_card.md": write_text_atomic(run_dir / "model_card.md", card),
    }
    for name, figure in charts.items():
        written[name] = write_figure_atomic(run_dir / name, figure)
    return written


def point_latest(artifacts_dir: Path, run_dir: Path) -> Path:
    """Point `artifacts/latest` (a relative symlink) at the complete run `run_dir`, unless it
    points at a newer run: a folder that still exists and whose name sorts later, as it started
    later. Runs finishing together take turns (a lock file, `.latest.lock`) and the link changes
    in one rename, so `latest` is the newest complete run whatever order runs finish in."""
    link = artifacts_dir / LATEST
    with exclusive_lock(artifacts_dir / f".{LATEST}.lock"):
        if link.is_symlink():
            current = artifacts_dir / os.readlink(link)
            if current.is_dir() and current.name > run_dir.name:
                return link
        point_link(artifacts_dir, LATEST, run_dir)
    return link


def point_link(artifacts_dir: Path, name: str, run_dir: Path) -> Path:
    """Point `artifacts/<name>` (a relative symlink) at `run_dir`, in one rename."""
    link = artifacts_dir / name
    tmp = artifacts_dir / f".tmp-{uuid.uuid4().hex}-{name}"
    tmp.symlink_to(os.path.relpath(run_dir, artifacts_dir))
    os.replace(tmp, link)
    return link
