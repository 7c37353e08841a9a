"""The model card: what was trained on what, with which rate, and how it did."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from lrfinder.data.checks import GROUPED_FIX
from lrfinder.reporting.tables import (
    REFERENCE_COLUMN,
    interval_note,
    reference_note,
    threshold_section,
)
from lrfinder.training.results import Comparison, Evaluation, NoRows, Scores

PACKAGES = ("tensorflow", "jax", "keras", "numpy", "pandas", "scikit-learn", "prefect")
TRIVIAL = {
    "binary": "The majority-class predictor gives every row the training share of class 1 as "
    "its probability (its prediction: the majority class).",
    "multiclass": "The majority-class predictor gives every row the training class shares (its "
    "prediction: the majority class).",
    "regression": "The trivial predictor gives every row the training mean; metrics are in "
    "the target's units.",
}
TRIVIAL_COLUMN = {"binary": "majority class", "multiclass": "majority class"}
TASK_TITLES = {
    "binary": "binary classifier",
    "multiclass": "multi-class classifier",
    "regression": "regression model",
}


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def metric_rows(comparison: Comparison, reference: Scores | None = None) -> list[dict]:
    """One record per metric of the task: both final models, the trivial predictor, the
    reference model's (when given), the per-seed means and spreads, the paired difference,
    whether it is larger than its spread and in how many seeds the chosen rate won."""
    rows = []
    trivial = comparison.trivial or {}
    chosen, baseline = comparison.chosen, comparison.baseline
    for key, difference in comparison.difference.items():
        rows.append(
            {
                "metric": key,
                "chosen_final": chosen.final[key],
                "baseline_final": baseline.final[key],
                "trivial": trivial.get(key, float("nan")),
                **({"reference": reference[key]} if reference is not None else {}),
                "chosen_mean": chosen.across_seeds[key]["mean"],
                "chosen_std": chosen.across_seeds[key]["std"],
                "baseline_mean": baseline.across_seeds[key]["mean"],
                "baseline_std": baseline.across_seeds[key]["std"],
                "difference_mean": difference["mean"],
                "difference_std": difference["std"],
                "larger_than_spread": difference["larger_than_spread"],
                "chosen_better_in": difference["chosen_better_in"],
            }
        )
    return rows


def metrics_table(
    comparison: Comparison, task: str = "binary", reference: Scores | None = None
) -> str:
    """Markdown table: final models, the trivial predictor (the majority class, or the training
    mean), the reference model's metrics when given, per-seed mean ± std, paired difference and
    its verdict."""
    trivial = TRIVIAL_COLUMN.get(task, "training mean")
    extra = f" {REFERENCE_COLUMN} |" if reference is not None else ""
    lines = [
        f"| metric | chosen (final) | baseline (final) | {trivial} |{extra} chosen per seed | "
        "baseline per seed | difference (paired) | larger than spread? |",
        "|---|---|---|---|" + ("---|" if extra else "") + "---|---|---|---|",
    ]
    for r in metric_rows(comparison, reference):
        verdict = "yes" if r["larger_than_spread"] else "no"
        beside = f" {r['reference']:.4f} |" if reference is not None else ""
        lines.append(
            f"| {r['metric']} | {r['chosen_final']:.4f} | {r['baseline_final']:.4f} | "
            f"{r['trivial']:.4f} |{beside} "
            f"{r['chosen_mean']:.4f} ± {r['chosen_std']:.4f} | "
            f"{r['baseline_mean']:.4f} ± {r['baseline_std']:.4f} | "
            f"{r['difference_mean']:+.4f} ± {r['difference_std']:.4f} | {verdict} "
            f"({r['chosen_better_in']}) |"
        )
    return "\n".join(lines)


def twin_free_section(evaluation: Evaluation, level: str = "##") -> str:
    """The metrics table on the test rows without an exact twin in the training data, under a
    heading of `level`; where there is no such row, says so instead of a table."""
    clean = evaluation.test_without_twins
    title = f"{level} Test rows without an exact twin in the training data"
    if isinstance(clean, NoRows):
        return (
            f"{title} (0 rows)\nNo metrics: {clean.reason}. Every test row has an exact twin "
            f"in {evaluation.trained_on}, so the test metrics above measure recall of seen rows; "
            f"{GROUPED_FIX}."
        )
    reference = evaluation.reference.test_without_twins
    if isinstance(reference, NoRows):
        reference = None
    table = metrics_table(clean, evaluation.task, reference)
    return f"{title} ({clean.rows} rows)\n{table}"


def model_card(
    evaluation: Evaluation, source: dict, parameters: dict, selection_reason: str
) -> str:
    e, test = evaluation, evaluation.test
    files = "\n".join(f"- `{f['path']}` sha256 `{f['sha256']}`" for f in source["files"])
    versions = "\n".join(f"- {name} {ver}" for name, ver in library_versions().items())
    params = "\n".join(f"- `{name}` = `{value!r}`" for name, value in sorted(parameters.items()))
    task = e.task
    classes = f" Classes, in output order: {e.classes}." if e.classes is not None else ""
    reference = e.reference.test
    return f"""# Model card: MLP {TASK_TITLES[task]} trained at a found learning rate

## Model
Task: **{task}**.{classes} {TRIVIAL[task]}

Keras MLP, final model: **{test.final_model}** of {len(e.seeds)} seed replica(s)
(seeds {e.seeds}), {"refit on train + validation" if e.refit else "trained on train"};
epochs per replica: chosen {e.epochs["chosen"]}, baseline {e.epochs["baseline"]}.

## Learning rate
Chosen **{e.chosen_lr:.4g}** against the default-rate baseline {e.baseline_lr:g}.
Why: {selection_reason}.

## Test metrics ({test.rows} rows)
{metrics_table(test, task, reference)}

{reference_note(e)}

{interval_note(test)}

{threshold_section(e)}

{twin_free_section(e)}

"Larger than spread?" compares the mean paired difference (same seed: same initial weights and
batch order) with its standard deviation across seeds.

## Data
Source: {source["origin"]}
{files}

## Parameters
{params}

## Library versions
{versions}
"""
