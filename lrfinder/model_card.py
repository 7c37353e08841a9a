"""The model card: what was trained on what, with which rate, and how it did."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("tensorflow", "keras", "numpy", "pandas", "scikit-learn", "prefect")


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _row(name: str, summary: dict, key: str) -> str:
    c, b, d = (
        summary["chosen"]["across_seeds"][key],
        summary["baseline"]["across_seeds"][key],
        summary["difference"][key],
    )
    final_c, final_b = summary["chosen"]["final"][key], summary["baseline"]["final"][key]
    verdict = "yes" if d["larger_than_spread"] else "no"
    return (
        f"| {name} | {final_c:.4f} | {final_b:.4f} | {c['mean']:.4f} ± {c['std']:.4f} | "
        f"{b['mean']:.4f} ± {b['std']:.4f} | {d['mean']:+.4f} ± {d['std']:.4f} | {verdict} "
        f"({d['chosen_better_in']}) |"
    )


def metrics_table(summary: dict) -> str:
    """Markdown table: final models, per-seed mean ± std, paired difference and its verdict."""
    lines = [
        "| metric | chosen (final) | baseline (final) | chosen per seed | baseline per seed | "
        "difference (paired) | larger than spread? |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"):
        lines.append(_row(key, summary, key))
    return "\n".join(lines)


def model_card(metrics: dict, source: dict, parameters: dict, selection_reason: str) -> str:
    test, clean = metrics["test"], metrics["test_without_twins"]
    files = "\n".join(f"- `{f['path']}` sha256 `{f['sha256']}`" for f in source["files"])
    versions = "\n".join(f"- {name} {ver}" for name, ver in library_versions().items())
    params = "\n".join(f"- `{name}` = `{value!r}`" for name, value in sorted(parameters.items()))
    return f"""# Model card: wine-quality MLP trained at a found learning rate

## Model
Keras MLP, final model: **{test["final_model"]}** of {len(metrics["seeds"])} seed replica(s)
(seeds {metrics["seeds"]}), {"refit on train + validation" if metrics["refit"] else "trained on train"};
epochs per replica: chosen {metrics["epochs"]["chosen"]}, baseline {metrics["epochs"]["baseline"]}.

## Learning rate
Chosen **{metrics["chosen_lr"]:.4g}** against the default-rate baseline {metrics["baseline_lr"]:g}.
Why: {selection_reason}.

## Test metrics ({test["chosen"]["final"]["rows"]} rows)
{metrics_table(test)}

## Test rows without an exact twin in the training data ({clean["chosen"]["final"]["rows"]} rows)
{metrics_table(clean)}

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
