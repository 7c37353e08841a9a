"""Report and model-card parts on test uncertainty and decision thresholds: dicts in, Markdown
out."""

from __future__ import annotations

from lrfinder.training.intervals import MIN_CLASS_ROWS

THRESHOLD_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "mcc")


def interval_note(comparison: dict) -> str:
    """The final models' 95 % intervals, as one sentence (empty for regression)."""
    parts = []
    for name in ("chosen", "baseline"):
        intervals = comparison[name].get("intervals") or {}
        final = comparison[name]["final"]
        found = [
            f"{metric} {final[metric]:.4f} [{pair[0]:.4f}, {pair[1]:.4f}]"
            if pair
            else f"{metric}: none (under {MIN_CLASS_ROWS} rows of a class)"
            for metric, pair in intervals.items()
        ]
        if found:
            parts.append(f"{name}: " + ", ".join(found))
    if not parts:
        return ""
    return (
        f"95 % intervals on {comparison['chosen']['final']['rows']} test rows (accuracy: Wilson; "
        "ROC AUC: bootstrap): " + "; ".join(parts) + "."
    )


def threshold_section(metrics: dict) -> str:
    """The binary final models at their decision thresholds tuned on validation, as Markdown."""
    tuned = metrics.get("decision_threshold")
    if not tuned:
        return ""
    if tuned["objective"] is None:
        return f"Decision threshold: 0.5 ({tuned['tuned_on']}).\n"
    test = metrics["test"]
    rows = "\n".join(
        f"| {name} | {test['chosen']['final_at_tuned_threshold'][name]:.4f} | "
        f"{test['chosen']['final'][name]:.4f} | "
        f"{test['baseline']['final_at_tuned_threshold'][name]:.4f} | "
        f"{test['baseline']['final'][name]:.4f} | {test['trivial'][name]:.4f} |"
        for name in THRESHOLD_METRICS
    )
    return f"""Decision thresholds tuned for **{tuned["objective"]}** on {tuned["tuned_on"]}:
chosen {tuned["chosen"]:.3f}, baseline {tuned["baseline"]:.3f}.

| metric | chosen at its threshold | chosen at 0.5 | baseline at its threshold | baseline at 0.5 | majority class |
|---|---|---|---|---|---|
{rows}
"""
