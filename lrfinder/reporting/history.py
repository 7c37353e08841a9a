"""The run history (`artifacts/history.parquet`, one row per recorded run) and the promoted
model (`artifacts/production`): plain files, no Prefect."""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lrfinder.data.cleaning import frame_fingerprint
from lrfinder.data.sources import DataSource
from lrfinder.data.splitting import SplitData
from lrfinder.fileio import exclusive_lock, write_parquet_atomic
from lrfinder.metric_names import HEADLINE, LOWER_IS_BETTER
from lrfinder.params import RunSettings
from lrfinder.reporting.comparison import promotion
from lrfinder.reporting.outputs import point_link
from lrfinder.reporting.report import run_warnings
from lrfinder.training.gate import check_gate
from lrfinder.training.results import Evaluation, Intervals, Scores

if TYPE_CHECKING:
    from lrfinder.lr.selection import Selection  # its module imports the engine

HISTORY = "history.parquet"
PRODUCTION = "production"


@dataclass(frozen=True)
class Measured:
    """A test metric's value and its 95 % interval (None where there is none)."""

    value: float
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, name: str, scores: Scores, intervals: Intervals | None) -> Measured:
        pair = (intervals or {}).get(name)
        return cls(float(scores[name]), *(pair or (None, None)))

    @property
    def bounds(self) -> tuple[float, float]:
        """The interval's ends; the value for both where there is no interval."""
        return (
            self.value if self.low is None else self.low,
            self.value if self.high is None else self.high,
        )

    def text(self) -> str:
        within = "" if self.low is None else f" [{self.low:.4f}, {self.high:.4f}]"
        return f"{self.value:.4f}{within}"


@dataclass(frozen=True)
class RunInfo:
    """The flow run as Prefect knows it."""

    run_id: str
    run_name: str
    deployment: str | None  # "flow/deployment"; None for an ad-hoc run
    started: datetime
    duration_s: float  # time spent running so far (a retry's wait not counted)


@dataclass(frozen=True)
class RunRecord:
    """One run as the history keeps it."""

    run_id: str
    run_name: str
    deployment: str | None
    started: datetime
    run_folder: str  # the run's folder under artifacts/
    data_sha256: str
    test_rows_sha256: str  # which test rows the metrics are on
    rows: int
    task: str
    settings: str  # every setting by its flat name, as JSON
    chosen_lr: float
    baseline_lr: float
    metric: str  # the task's headline test metric
    chosen: Measured
    reference: Measured  # the gradient-boosted tree reference, same rows
    gate_metric: str
    gate_passed: bool
    gate_message: str | None
    duration_s: float
    warnings: tuple[str, ...] = ()
    promoted: bool = False
    promotion: str = ""  # why it was promoted or not

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        for name in ("chosen", "reference"):
            part = row.pop(name)
            row.update({f"{name}_{key}": value for key, value in part.items()})
        row["warnings"] = list(self.warnings)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        """A history row back as a record; a column an older file lacks takes its default."""
        values = dict(row)
        for name in ("chosen", "reference"):
            value, low, high = (values.pop(f"{name}_{key}") for key in ("value", "low", "high"))
            values[name] = Measured(float(value), _optional(low), _optional(high))
        values["warnings"] = tuple(values.get("warnings", ()))
        values["gate_message"] = _optional(values["gate_message"])
        values["deployment"] = _optional(values["deployment"])
        values["started"] = pd.Timestamp(values["started"]).to_pydatetime()
        return cls(
            **{
                f.name: values[f.name]
                for f in fields(cls)
                if f.default is MISSING or f.name in values
            }
        )

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER


def _optional(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def data_identity(source: DataSource) -> str:
    """The input's sha256 as `data_report.json` records it (`sha256sum` of the file); for the
    two UCI files, the source's fingerprint over both."""
    return source.files[0].sha256 if len(source.files) == 1 else source.fingerprint


def run_record(
    run: RunInfo,
    run_dir: Path,
    source: DataSource,
    split: SplitData,
    evaluation: Evaluation,
    selection: Selection,
    settings: RunSettings,
) -> RunRecord:
    """The history row of a run from its results."""
    name = HEADLINE[split.task]
    gate_message = check_gate(evaluation, settings.quality_gate)
    chosen, reference = evaluation.test.chosen, evaluation.reference
    return RunRecord(
        **asdict(run),
        run_folder=run_dir.name,
        data_sha256=data_identity(source),
        test_rows_sha256=frame_fingerprint(split.frames()["test"]),
        rows=sum(split.report["rows"].values()),
        task=split.task,
        settings=json.dumps(settings.flat(), sort_keys=True, default=str),
        chosen_lr=float(evaluation.chosen_lr),
        baseline_lr=float(evaluation.baseline_lr),
        metric=name,
        chosen=Measured.of(name, chosen.final, chosen.intervals),
        reference=Measured.of(name, reference.test, reference.intervals),
        gate_metric=settings.quality_gate.metric_for(split.task),
        gate_passed=gate_message is None,
        gate_message=gate_message,
        warnings=tuple(run_warnings(selection, gate_message)),
    )


def read_history(path: Path) -> list[RunRecord]:
    """Every recorded run, oldest first; none when there is no history yet."""
    if not path.is_file():
        return []
    frame = pd.read_parquet(path)
    return [RunRecord.from_row(row) for row in frame.to_dict("records")]


@dataclass(frozen=True)
class Recorded:
    """A run as recorded: its row, the run it is compared with, the production model it was
    judged against, the history afterwards (oldest first), and whether the run had been
    recorded before (a retry of it, which keeps its first decision)."""

    record: RunRecord
    previous: RunRecord | None
    production: RunRecord | None
    history: list[RunRecord]
    again: bool = False


def record_run(artifacts_dir: Path, record: RunRecord) -> Recorded:
    """Append `record` to the history, decide its promotion against the production model and
    point `artifacts/production` at it when promoted. A retry of a recorded run replaces its
    row and keeps its promotion decision. Runs finishing together take turns (a lock file,
    `.history.lock`); the history and the link each change in one rename."""
    path = artifacts_dir / HISTORY
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(artifacts_dir / ".history.lock"):
        history = read_history(path)
        before = [r for r in history if r.run_id == record.run_id]
        history = [r for r in history if r.run_id != record.run_id]
        previous = previous_run(history, record)
        production = production_run(artifacts_dir, history)
        if before:
            record = replace(record, promoted=before[-1].promoted, promotion=before[-1].promotion)
        else:
            promoted, why = promotion(record, production)
            record = replace(record, promoted=promoted, promotion=why)
        history.append(record)
        write_parquet_atomic(path, pd.DataFrame([r.to_row() for r in history]))
        if record.promoted and not before:
            point_link(artifacts_dir, PRODUCTION, artifacts_dir / record.run_folder)
    return Recorded(record, previous, production, history, again=bool(before))


def previous_run(history: list[RunRecord], record: RunRecord) -> RunRecord | None:
    """The latest recorded run of the same deployment (of ad-hoc runs, for an ad-hoc run) that
    started before `record`."""
    earlier = [
        r for r in history if r.deployment == record.deployment and r.started <= record.started
    ]
    return max(earlier, key=lambda r: r.started) if earlier else None


def production_run(artifacts_dir: Path, history: list[RunRecord]) -> RunRecord | None:
    """The run `artifacts/production` points at, as the history recorded it."""
    link = artifacts_dir / PRODUCTION
    if not link.is_symlink():
        return None
    folder = Path(os.readlink(link)).name
    found = [r for r in history if r.run_folder == folder]
    return found[-1] if found else None
