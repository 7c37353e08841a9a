"""The per-run folder under artifacts/: its name, its data files and the `latest` link."""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime
from pathlib import Path

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

LATEST = "latest"


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


def write_selection(run_dir: Path, summary: dict, charts: dict[str, Figure]) -> dict[str, Path]:
    """Write `selection.json` and each chart (`lr_finder.png`, `confirmation.png`) as PNG."""
    written = {"selection.json": write_json_atomic(run_dir / "selection.json", summary)}
    for name, figure in charts.items():
        written[name] = write_figure_atomic(run_dir / name, figure)
    return written


def write_model_outputs(
    run_dir: Path,
    metrics: dict,
    predictions: pd.DataFrame,
    card: str,
    charts: dict[str, Figure],
) -> dict[str, Path]:
    """Write `metrics.json`, `predictions.parquet`, `model_card.md` and the charts."""
    written = {
        "metrics.json": write_json_atomic(run_dir / "metrics.json", metrics),
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
