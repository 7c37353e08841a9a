"""The three tasks on the wine data, each a cold run of the flow with its defaults, in one process
run; then, per task:

- peers on the same split, trained on the rows our final model learned from: the trivial
  predictor (from metrics.json), scikit-learn's Ridge (regression) and HistGradientBoosting
  (regressor or classifier), with test RMSE/MAE/R² or accuracy and macro F1;
- selection quality: a grid of 9 fixed rates from 1e-4 to 1 plus the chosen one, 3 seeds each,
  trained on the engine with the final training's early stopping (100 epochs, patience 10) on the
  same split; the chosen rate's median best validation loss against the grid's best.

Usage: python -m bench.targets [--tasks binary regression multiclass] [--grid-seeds 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import Timer, grid_best, grid_medians, wine_csv
from bench.flow import start_prefect
from bench.truth import split_from_run
from lrfinder.engine.recipe import recipe_of
from lrfinder.model.heads import head_for

SHOWN = {
    "binary": ("accuracy", "f1"),
    "multiclass": ("accuracy", "macro_f1"),
    "regression": ("rmse", "mae", "r2"),
}


def show(metrics: dict, task: str) -> str:
    return ", ".join(f"{n} {metrics[n]:.4f}" for n in SHOWN[task] if n in metrics)


def peers(run_dir: Path, task: str) -> dict[str, dict]:
    """Test metrics of the scikit-learn peers on the run's own split: HistGradientBoosting as the
    flow's reference model (metrics.json, fit on the rows the final model learned from: train by
    default, train + val when refit) and, for regression, Ridge fit on the same rows."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    found = {"HistGradientBoosting": metrics["reference"]["test"]}
    if task != "regression":
        return found
    from sklearn.linear_model import Ridge

    from lrfinder.training.evaluation import regression_metrics
    from lrfinder.training.reference import trained_on

    split = split_from_run(run_dir)
    seen = trained_on(metrics["refit"])
    x = np.concatenate([split.arrays(name)[0] for name in seen])
    y = np.concatenate([split.target_values(name) for name in seen])
    ridge = Ridge().fit(x, y).predict(split.arrays("test")[0])
    return {"Ridge": regression_metrics(split.target_values("test"), ridge), **found}


def grid_check(run_dir: Path, chosen_lr: float, seeds: list[int]) -> pd.Series:
    """Median best validation loss per rate (the grid and the chosen rate) on the run's split."""
    from lrfinder.params import ModelSettings

    split = split_from_run(run_dir)
    data = (*split.arrays("train"), *split.arrays("val"))
    model = ModelSettings(seed=seeds[0], n_seeds=len(seeds))
    recipe = recipe_of(model, data[0].shape[1], head_for(split.task, len(split.classes)))
    return grid_medians(data, recipe, chosen_lr, seeds)


def main() -> None:
    from flows.lr_finder import lr_finder
    from lrfinder.params import nest

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="+", default=["binary", "regression", "multiclass"])
    parser.add_argument("--grid-seeds", type=int, default=3)
    args = parser.parse_args()
    with Timer() as server:
        start_prefect()
    print(f"temporary Prefect server start: {server.seconds:.1f} s")
    runs = {}
    for task in args.tasks:
        with Timer() as cold:
            run_dir = Path(lr_finder(**nest({"data": str(wine_csv()), "task": task})))
        runs[task] = (run_dir, cold.seconds)
        print(f"{task}: cold flow {cold.seconds:.1f} s -> {run_dir}", flush=True)
    base = runs.get("binary", (None, None))[1]
    lines = [
        "| task | cold flow, s | vs binary | chosen lr | test (ensemble, chosen rate) | trivial | peers | chosen rate's median val loss vs grid best |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, (run_dir, seconds) in runs.items():
        metrics = json.loads((run_dir / "metrics.json").read_text())
        chosen_lr = json.loads((run_dir / "selection.json").read_text())["chosen_lr"]
        final, trivial = metrics["test"]["chosen"]["final"], metrics["test"]["trivial"]
        others = "; ".join(f"{name}: {show(m, task)}" for name, m in peers(run_dir, task).items())
        with Timer() as grid_time:
            medians = grid_check(run_dir, chosen_lr, list(range(100, 100 + args.grid_seeds)))
        best_lr, best = grid_best(medians, chosen_lr)
        gap = medians[chosen_lr] / best - 1
        grid = ", ".join(f"{lr:.3g}: {v:.4f}" for lr, v in medians.items())
        print(
            f"{task} grid ({grid_time.seconds:.0f} s) median best val loss per rate: {grid}",
            flush=True,
        )
        ratio = f"{seconds / base:.2f}" if base else "-"
        lines.append(
            f"| {task} | {seconds:.1f} | {ratio} | {chosen_lr:.3g} | {show(final, task)} | {show(trivial, task)} | {others} | "
            f"{medians[chosen_lr]:.4f} vs {best:.4f} at {best_lr:.3g} ({gap:+.1%}) |"
        )
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
