"""The run history (`artifacts/history.parquet`, one row per recorded run), what changed since
the previous run, and the promoted model (`artifacts/production`). Plain files, no Prefect."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lrfinder.fileio import exclusive_lock, write_parquet_atomic
from lrfinder.reporting.outputs import point_link
from lrfinder.training.metric_names import HEADLINE, LOWER_IS_BETTER

HISTORY = "history.parquet"
PRODUCTION = "production"
SHOWN_RUNS = 50  # the history artifact's rows


@dataclass(frozen=True)
class Measured:
    """A test metric's value and its 95 % interval (None where there is none)."""

    value: float
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, name: str, metrics: dict, intervals: dict | None) -> Measured:
        pair = (intervals or {}).get(name)
        return cls(float(metrics[name]), *(pair or (None, None)))

    def text(self) -> str:
        within = "" if self.low is None else f" [{self.low:.4f}, {self.high:.4f}]"
        return f"{self.value:.4f}{within}"


@dataclass(frozen=True)
class RunRecord:
    """One run as the history keeps it."""

    run_id: str
    run_name: str
    deployment: str | None  # "flow/deployment"; None for an ad-hoc run
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
        values = dict(row)
        for name in ("chosen", "reference"):
            values[name] = Measured(
                *(_optional(values.pop(f"{name}_{key}")) for key in ("value", "low", "high"))
            )
        values["warnings"] = tuple(values["warnings"])
        values["gate_message"] = _optional(values["gate_message"])
        values["deployment"] = _optional(values["deployment"])
        values["started"] = pd.Timestamp(values["started"]).to_pydatetime()
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER


def _optional(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def data_identity(source: dict) -> str:
    """The input's sha256 as `data_report.json` records it: the file's, or for several files
    (the two UCI files) the sha256 of their sha256s in order."""
    hashes = [file["sha256"] for file in source["files"]]
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def rows_identity(frame: pd.DataFrame) -> str:
    """A sha256 of a frame's values, row by row (same rows, same order: same hash)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def headline(metrics: dict) -> tuple[Measured, Measured]:
    """The chosen final model's headline test metric and the reference model's, with their
    intervals."""
    name = HEADLINE[metrics["task"]]
    chosen = metrics["test"]["chosen"]
    reference = metrics["reference"]
    return (
        Measured.of(name, chosen["final"], chosen.get("intervals")),
        Measured.of(name, reference["test"], reference.get("intervals")),
    )


def settings_json(flat: dict[str, Any]) -> str:
    return json.dumps(flat, sort_keys=True, default=str)


def read_history(path: Path) -> list[RunRecord]:
    """Every recorded run, oldest first; none when there is no history yet."""
    if not path.is_file():
        return []
    frame = pd.read_parquet(path)
    return [RunRecord.from_row(row) for row in frame.to_dict("records")]


def _write_history(path: Path, records: list[RunRecord]) -> None:
    frame = pd.DataFrame([record.to_row() for record in records])
    write_parquet_atomic(path, frame)


@dataclass(frozen=True)
class Recorded:
    """A run as recorded: its row, the run it is compared with, the production model before it
    and the history afterwards (oldest first)."""

    record: RunRecord
    previous: RunRecord | None
    production: RunRecord | None
    history: list[RunRecord]


def record_run(artifacts_dir: Path, record: RunRecord) -> Recorded:
    """Append `record` to the history (replacing an earlier row of the same run: a retry),
    decide its promotion against the production model and point `artifacts/production` at it
    when promoted. Runs finishing together take turns (a lock file, `.history.lock`); the
    history and the link each change in one rename."""
    path = artifacts_dir / HISTORY
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(artifacts_dir / ".history.lock"):
        history = [r for r in read_history(path) if r.run_id != record.run_id]
        previous = previous_run(history, record)
        production = production_run(artifacts_dir, history)
        promoted, why = promotion(record, production)
        record = replace(record, promoted=promoted, promotion=why)
        history.append(record)
        _write_history(path, history)
        if promoted:
            point_link(artifacts_dir, PRODUCTION, artifacts_dir / record.run_folder)
    return Recorded(record, previous, production, history)


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


def better(record: RunRecord, value: float, than: float) -> bool:
    return value > than if record.higher_is_better else value < than


def promotion(record: RunRecord, production: RunRecord | None) -> tuple[bool, str]:
    """Whether `record` becomes the production model, and why.

    - It must pass the quality gate.
    - Same test rows as production (data and split unchanged): it must be better beyond
      production's 95 % interval (its value past the interval's far end); a model within the
      interval is no evidence of a better one, and production stays.
    - Other test rows (the data or the split changed): its interval must reach production's
      (it is not worse by more than the two intervals together), as the new data's model.
    """
    name = record.metric
    if not record.gate_passed:
        return False, "not promoted: it did not pass the quality gate"
    if production is None:
        return True, "promoted: there was no production model yet"
    if production.metric != name:
        return True, f"promoted: production is judged on {production.metric}, another task"
    ours, theirs = record.chosen, production.chosen
    if record.test_rows_sha256 == production.test_rows_sha256:
        far = theirs.high if record.higher_is_better else theirs.low
        bound = theirs.value if far is None else far
        if better(record, ours.value, bound):
            return True, (
                f"promoted: test {name} {ours.text()} is better than production's "
                f"{theirs.text()} (run {production.run_name}) beyond its interval, on the same "
                "test rows"
            )
        return False, (
            f"not promoted: test {name} {ours.text()} is not better than production's "
            f"{theirs.text()} (run {production.run_name}) beyond its interval, on the same test "
            "rows"
        )
    near = ours.high if record.higher_is_better else ours.low
    reach = theirs.low if record.higher_is_better else theirs.high
    near = ours.value if near is None else near
    reach = theirs.value if reach is None else reach
    rows = "; the comparison spans different test rows (the data or the split changed)"
    if not better(record, reach, near):
        return True, (
            f"promoted: test {name} {ours.text()} is not worse than production's "
            f"{theirs.text()} (run {production.run_name}) by more than the two intervals "
            f"together{rows}"
        )
    return False, (
        f"not promoted: test {name} {ours.text()} is worse than production's {theirs.text()} "
        f"(run {production.run_name}) by more than the two intervals together{rows}"
    )


def dropped(record: RunRecord, previous: RunRecord | None) -> bool:
    """Whether the headline metric fell beyond the previous run's 95 % interval."""
    if previous is None or previous.metric != record.metric:
        return False
    theirs = previous.chosen
    near = theirs.low if record.higher_is_better else theirs.high
    return better(record, theirs.value if near is None else near, record.chosen.value)


def changes(record: RunRecord, previous: RunRecord) -> list[str]:
    """What changed since `previous`, one sentence each."""
    found = []
    if record.data_sha256 != previous.data_sha256:
        found.append(
            f"The data changed: sha256 {previous.data_sha256[:12]}… → {record.data_sha256[:12]}… "
            f"({previous.rows:,} → {record.rows:,} rows)."
        )
    else:
        found.append(f"The data is unchanged (sha256 {record.data_sha256[:12]}…).")
    ours, theirs = json.loads(record.settings), json.loads(previous.settings)
    changed = [
        f"{name} {theirs.get(name)!r} → {ours.get(name)!r}"
        for name in sorted(set(ours) | set(theirs))
        if ours.get(name) != theirs.get(name)
    ]
    found.append(
        "Settings changed: " + "; ".join(changed) + "."
        if changed
        else "The settings are unchanged."
    )
    ratio = record.chosen_lr / previous.chosen_lr
    if math.isclose(ratio, 1.0, rel_tol=1e-9):
        found.append(f"The chosen rate is unchanged ({record.chosen_lr:.4g}).")
    else:
        how = f"{ratio:.3g}x" if ratio > 1 else f"1/{1 / ratio:.3g}"
        found.append(
            f"The chosen rate moved {previous.chosen_lr:.4g} → {record.chosen_lr:.4g} ({how})."
        )
    name, ours_m, theirs_m = record.metric, record.chosen, previous.chosen
    if previous.metric != name:
        found.append(f"The headline metric changed ({previous.metric} → {name}).")
    elif dropped(record, previous):
        found.append(
            f"Test {name} dropped beyond the previous run's interval: {theirs_m.text()} → "
            f"{ours_m.value:.4f}."
        )
    else:
        far = theirs_m.high if record.higher_is_better else theirs_m.low
        rose = far is not None and better(record, ours_m.value, far)
        where = "rose beyond" if rose else "stayed within"
        found.append(
            f"Test {name} {where} the previous run's interval: {theirs_m.text()} → "
            f"{ours_m.value:.4f}."
        )
    if record.test_rows_sha256 != previous.test_rows_sha256:
        found.append("The test rows differ, so the metrics are on different rows.")
    return found


def since_last_run(recorded: Recorded) -> str:
    """The report's "Since the last run" section, with the promotion's outcome."""
    record, previous = recorded.record, recorded.previous
    kind = f"deployment {record.deployment}" if record.deployment else "ad-hoc runs"
    if previous is None:
        lines = [f"This is the first recorded run of {kind}."]
    else:
        lines = [
            f"Compared with run {previous.run_name} ({previous.started:%Y-%m-%d %H:%M} UTC, "
            f"{kind}, folder `{previous.run_folder}`):",
            "",
            *(f"- {line}" for line in changes(record, previous)),
        ]
    verdict, why = record.promotion.split(": ", 1)
    lines += ["", f"**{verdict.capitalize()}**: {why}."]
    return "## Since the last run\n" + "\n".join(lines) + "\n"


def history_rows(history: list[RunRecord], shown: int = SHOWN_RUNS) -> list[dict[str, Any]]:
    """The last `shown` runs, newest first, as the history table shows them."""
    return [
        {
            "started (UTC)": f"{r.started:%Y-%m-%d %H:%M:%S}",
            "run": r.run_name,
            "deployment": r.deployment or "ad hoc",
            "data sha256": r.data_sha256[:12],
            "rows": r.rows,
            "chosen lr": f"{r.chosen_lr:.4g}",
            "baseline lr": f"{r.baseline_lr:.4g}",
            f"test {r.metric}": r.chosen.text(),
            "reference": r.reference.text(),
            "gate": "passed" if r.gate_passed else "failed",
            "promoted": "yes" if r.promoted else "no",
            "duration (s)": round(r.duration_s, 1),
            "warnings": len(r.warnings),
        }
        for r in reversed(history[-shown:])
    ]
