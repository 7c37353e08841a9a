"""The quality gate on the final model's test metric: plain Python."""

from __future__ import annotations

from lrfinder.data.checks import GROUPED_FIX, MAX_TWIN_SHARE
from lrfinder.metric_names import LOWER_IS_BETTER, is_better
from lrfinder.params import QualityGateSettings
from lrfinder.training.results import Evaluation


class QualityGateError(RuntimeError):
    """The final model's test metric misses the gate."""


def trivial_name(task: str) -> str:
    """What the trivial predictor is called for `task`."""
    return "the training mean" if task == "regression" else "the majority-class predictor"


def check_gate(evaluation: Evaluation, gate: QualityGateSettings) -> str | None:
    """None when the chosen final model's test gate metric meets its bound (if any) and beats
    the trivial predictor's; else the message (the caller warns or fails with it)."""
    task = evaluation.task
    name = gate.metric_for(task)
    value = evaluation.test.chosen.final[name]
    trivial = evaluation.test.trivial[name]
    problems = []
    if gate.gate_value is not None and not (
        value <= gate.gate_value if name in LOWER_IS_BETTER else value >= gate.gate_value
    ):
        side = "above the maximum" if name in LOWER_IS_BETTER else "below the minimum"
        problems.append(f"test {name} {value:.4f} is {side} {gate.gate_value:.4f}")
    if not is_better(name, value, trivial):
        problems.append(
            f"test {name} {value:.4f} does not beat {trivial_name(task)} ({trivial:.4f})"
        )
    if not problems:
        return None
    hint = "Inspect metrics.json and the charts"
    if task != "regression":
        hint += "; for imbalanced classes try --class-weight balanced or another --gate-metric"
        hint += " (balanced_accuracy, mcc)"
    return f"quality gate: {'; '.join(problems)}. {hint}, or change --gate-value." + twin_hint(
        evaluation
    )


def twin_hint(evaluation: Evaluation) -> str:
    """A sentence for the gate's message when over MAX_TWIN_SHARE of the test rows have an exact
    twin in the rows the final models learned from; empty otherwise."""
    rows, free = evaluation.test.rows, evaluation.test_without_twins.rows
    if rows - free <= MAX_TWIN_SHARE * rows:
        return ""
    return (
        f" {rows - free:,} of {rows:,} test rows have an exact twin in {evaluation.trained_on}, so "
        f"the test metrics mostly measure recall of seen rows: {GROUPED_FIX}."
    )
