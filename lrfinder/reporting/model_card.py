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


def metric_rows(comparison: dict, reference: dict | None = None) -> list[dict]:
    """One record per metric of the task: both final models, the trivial predictor, the
    reference model's (when given), the per-seed means and spreads, the paired difference,
    whether it is larger than its spread and in how many seeds the chosen rate won."""
    rows = []
    trivial = comparison.get("trivial", {})
    for key, difference in comparison["difference"].items():
        chosen, baseline = comparison["chosen"], comparison["baseline"]
        rows.append(
            {
                "metric": key,
                "chosen_final": chosen["final"][key],
                "baseline_final": baseline["final"][key],
                "trivial": trivial.get(key, float("nan")),
                **({"reference": reference[key]} if reference is not None else {}),
                "chosen_mean": chosen["across_seeds"][key]["mean"],
                "chosen_std": chosen["across_seeds"][key]["std"],
                "baseline_mean": baseline["across_seeds"][key]["mean"],
                "baseline_std": baseline["across_seeds"][key]["std"],
                "difference_mean": difference["mean"],
                "difference_std": difference["std"],
                "larger_than_spread": difference["larger_than_spread"],
                "chosen_better_in": difference["chosen_better_in"],
            }
        )
    return rows


def metrics_table(summary: dict, task: str = "binary", reference: dict | None = None) -> str:
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
    for r in metric_rows(summary, reference):
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


def twin_free_section(metrics: dict, level: str = "##") -> str:
    """The metrics table on the test rows without an exact twin in the training data, under a
    heading of `level`; where there is no such row, says so instead of a table."""
    clean = metrics["test_without_twins"]
    title = f"{level} Test rows without an exact twin in the training data"
    if "reason" in clean:
        return (
            f"{title} (0 rows)\nNo metrics: {clean['reason']}. Every test row has an exact twin "
            "in train or validation, so the test metrics above measure recall of seen rows; "
            f"{GROUPED_FIX}."
        )
    reference = metrics.get("reference", {}).get("test_without_twins")
    task = metrics.get("task", "binary")
    rows = clean["chosen"]["final"]["rows"]
    return f"{title} ({rows} rows)\n{metrics_table(clean, task, reference)}"


def model_card(metrics: dict, source: dict, parameters: dict, selection_reason: str) -> str:
    test = metrics["test"]
    files = "\n".join(f"- `{f['path']}` sha256 `{f['sha256']}`" for f in source["files"])
    versions = "\n".join(f"- {name} {ver}" for name, ver in library_versions().items())
    params = "\n".join(f"- `{name}` = `{value!r}`" for name, value in sorted(parameters.items()))
    task = metrics.get("task", "binary")
    classes = f" Classes, in output order: {metrics['classes']}." if "classes" in metrics else ""
    reference = metrics.get("reference", {})
    return f"""# Model card: MLP {TASK_TITLES[task]} trained at a found learning rate

## Model
Task: **{task}**.{classes} {TRIVIAL[task]}

Keras MLP, final model: **{test["final_model"]}** of {len(metrics["seeds"])} seed replica(s)
(seeds {metrics["seeds"]}), {"refit on train + validation" if metrics["refit"] else "trained on train"};
epochs per replica: chosen {metrics["epochs"]["chosen"]}, baseline {metrics["epochs"]["baseline"]}.

## Learning rate
Chosen **{metrics["chosen_lr"]:.4g}** against the default-rate baseline {metrics["baseline_lr"]:g}.
Why: {selection_reason}.

## Test metrics ({test["chosen"]["final"]["rows"]} rows)
{metrics_table(test, task, reference.get("test"))}

{reference_note(metrics)}

{interval_note(test)}

{threshold_section(metrics)}

{twin_free_section(metrics)}

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
