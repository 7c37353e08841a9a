"""Report and model-card parts on test uncertainty and decision thresholds: results in,
Markdown out."""

from __future__ import annotations

from lrfinder.metric_names import HEADLINE, is_better
from lrfinder.training.intervals import MIN_CLASS_ROWS, method
from lrfinder.training.results import Comparison, Evaluation

THRESHOLD_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "mcc")
REFERENCE_COLUMN = "HistGradientBoosting (reference, default settings)"
NO_INTERVAL = {"roc_auc": f"under {MIN_CLASS_ROWS} rows of a class"}
UNDEFINED = "under 2 rows, or undefined on most resamples"


def interval_note(comparison: Comparison) -> str:
    """The final models' 95 % intervals, as one sentence (empty when there are none)."""
    parts, methods = [], {}
    for name, group in (("chosen", comparison.chosen), ("baseline", comparison.baseline)):
        intervals = group.intervals or {}
        final = group.final
        found = [
            f"{metric} {final[metric]:.4f} [{pair[0]:.4f}, {pair[1]:.4f}]"
            if pair
            else f"{metric}: none ({NO_INTERVAL.get(metric, UNDEFINED)})"
            for metric, pair in intervals.items()
        ]
        if found:
            parts.append(f"{name}: " + ", ".join(found))
        methods.update({metric: method(metric) for metric in intervals})
    if not parts:
        return ""
    how = "; ".join(f"{metric}: {how}" for metric, how in methods.items())
    return f"95 % intervals on {comparison.rows} test rows ({how}): " + "; ".join(parts) + "."


def threshold_section(evaluation: Evaluation) -> str:
    """The binary final models at their decision thresholds tuned on validation, as Markdown."""
    tuned = evaluation.decision_threshold
    if tuned is None:
        return ""
    if tuned.objective is None:
        return f"Decision threshold: 0.5 ({tuned.tuned_on}).\n"
    chosen, baseline, trivial = (
        evaluation.test.chosen,
        evaluation.test.baseline,
        evaluation.test.trivial,
    )
    rows = "\n".join(
        f"| {name} | {chosen.final_at_tuned_threshold[name]:.4f} | "
        f"{chosen.final[name]:.4f} | "
        f"{baseline.final_at_tuned_threshold[name]:.4f} | "
        f"{baseline.final[name]:.4f} | {trivial[name]:.4f} |"
        for name in THRESHOLD_METRICS
    )
    return f"""Decision thresholds tuned for **{tuned.objective}** on {tuned.tuned_on}:
chosen {tuned.chosen:.3f}, baseline {tuned.baseline:.3f}.

| metric | chosen at its threshold | chosen at 0.5 | baseline at its threshold | baseline at 0.5 | majority class |
|---|---|---|---|---|---|
{rows}
"""


def reference_note(evaluation: Evaluation) -> str:
    """What the reference model is and what it was fit on, and a plain sentence when it beats
    the chosen final model on the task's headline metric."""
    reference = evaluation.reference
    name = HEADLINE[evaluation.task]
    ours, theirs = evaluation.test.chosen.final[name], reference.test[name]
    note = (
        f"Reference: scikit-learn's {reference.model} ({reference.settings}), fit on "
        f"{reference.fit_on} ({reference.rows:,} rows, {reference.seconds:.1f} s), "
        f"scored on the same test rows: test {name} {theirs:.4f}."
    )
    if is_better(name, theirs, ours):
        note += (
            f" A gradient-boosted tree model beats the network on this data ({name} "
            f"{theirs:.4f} vs {ours:.4f}): consider it."
        )
    return note
