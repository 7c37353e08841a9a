"""A run against the previous run of its deployment and against the production model: the
promotion rule, what changed, and the history as the report and the UI show it."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from lrfinder.metric_names import is_better

if TYPE_CHECKING:
    from lrfinder.reporting.history import Measured, Recorded, RunRecord

SHOWN_RUNS = 50  # the history artifact's rows


def _ends(record: RunRecord, measured: Measured) -> tuple[float, float]:
    """`measured`'s interval ends as (worse, better) for `record`'s metric."""
    low, high = measured.bounds
    return (low, high) if record.higher_is_better else (high, low)


def promotion(record: RunRecord, production: RunRecord | None) -> tuple[bool, str]:
    """Whether `record` becomes the production model, and why.

    - It must be a deployment run (an ad-hoc run is an experiment) and pass the quality gate;
      the first such run becomes production.
    - It must be a model of production's task.
    - Same test rows as production (data and split unchanged): it must be better beyond
      production's 95 % interval (its value past the interval's far end); a model within the
      interval is no evidence of a better one, and production stays.
    - Other test rows (the data or the split changed): its interval must reach production's
      (it is not worse by more than the two intervals together), as the new data's model.
    """
    name = record.metric
    if record.deployment is None:
        return False, "not promoted: an ad-hoc run (only deployment runs are promoted)"
    if not record.gate_passed:
        return False, "not promoted: it did not pass the quality gate"
    if production is None:
        return True, "promoted: there was no production model yet"
    if (production.task, production.metric) != (record.task, name):
        return False, (
            f"not promoted: production (run {production.run_name}) is a {production.task} model "
            f"judged on {production.metric}; remove artifacts/production to promote a "
            f"{record.task} model"
        )
    ours, theirs = record.chosen, production.chosen
    if record.test_rows_sha256 == production.test_rows_sha256:
        if is_better(name, ours.value, _ends(record, theirs)[1]):
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
    rows = "; the comparison spans different test rows (the data or the split changed)"
    if not is_better(name, _ends(record, theirs)[0], _ends(record, ours)[1]):
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
    return is_better(record.metric, _ends(record, previous.chosen)[0], record.chosen.value)


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
        best = _ends(record, theirs_m)[1]
        rose = theirs_m.low is not None and is_better(name, ours_m.value, best)
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
            "metric": r.metric,
            "test value [95 % interval]": r.chosen.text(),
            "reference": r.reference.text(),
            "gate": "passed" if r.gate_passed else "failed",
            "promoted": "yes" if r.promoted else "no",
            "duration (s)": round(r.duration_s, 1),
            "warnings": len(r.warnings),
        }
        for r in reversed(history[-shown:])
    ]
