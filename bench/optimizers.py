"""The learning rate per optimizer on the wine data, in one process run: for Adam, AdamW, SGD
(momentum 0.9) and RMSprop, our default selection (range test with 8 seeds, confirmation) on the
flow's own split, next to a grid of 9 fixed rates from 1e-4 to 1 (3 seeds each, the final
training's early stopping: 100 epochs, patience 10); then the engine's model-steps/s at K = 8
and 32 for Adam and SGD beside Keras fit's steps/s (TensorFlow unless KERAS_BACKEND says), and
Adam's with dropout 0.2 after every hidden layer.

Usage: python -m bench.optimizers [--optimizers adam adamw sgd rmsprop] [--grid-seeds 3]
"""

from __future__ import annotations

import argparse

from bench.common import Timer, grid_best, grid_medians, wine_csv
from bench.throughput import engine_throughput, keras_fit_steps_per_second
from lrfinder.engine.recipe import recipe_of
from lrfinder.params import DataSettings

STEPS = 320  # timed steps per K, after a warm-up call


def wine_split():
    """The flow's default data: wine, quality >= 6, the tutorial's test split plus validation."""
    from lrfinder.data.cleaning import clean, label_rule
    from lrfinder.data.sources import DataSource, SourceFile
    from lrfinder.data.splitting import split_and_scale
    from lrfinder.fileio import sha256_file
    from lrfinder.params import SplitSettings

    path = wine_csv()
    source = DataSource((SourceFile(path, sha256_file(path)),), "bench")
    return split_and_scale(
        clean(source, label_rule(DataSettings(target=None, threshold=None, positive_label=None))),
        SplitSettings(),
    )


def selection_against_grid(split, optimizer: str, grid_seeds: list[int]) -> dict:
    from lrfinder.lr.range_test import run_range_test
    from lrfinder.lr.selection import select_rate
    from lrfinder.params import ModelSettings, RangeTestSettings, RunSettings

    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val")
    model = ModelSettings(optimizer=optimizer)
    with Timer() as timer:
        recipe = recipe_of(model, x.shape[1])
        curves = run_range_test(x, y, recipe, model.seeds, RangeTestSettings())
        settings = RunSettings()
        selection = select_rate(
            curves.table,
            x,
            y,
            x_val,
            y_val,
            recipe,
            model.seeds,
            settings.selection,
            settings.race_protocol,
        )
    grid_model = ModelSettings(optimizer=optimizer, seed=grid_seeds[0], n_seeds=len(grid_seeds))
    recipe = recipe_of(grid_model, x.shape[1])
    medians = grid_medians((x, y, x_val, y_val), recipe, selection.chosen_lr, grid_seeds)
    best_lr, best = grid_best(medians, selection.chosen_lr)
    return {
        "suggestions": {name: agg.lr for name, agg in selection.aggregates.items()},
        "chosen": selection.chosen_lr,
        "selection_seconds": timer.seconds,
        "chosen_median": float(medians[selection.chosen_lr]),
        "grid": medians,
        "best_lr": best_lr,
        "best": best,
        "baseline_lr": recipe.optimizer.default_lr,
    }


def keras_optimizer(name: str):
    """Keras's optimizer of that name, with Keras's defaults (as the engine runs it)."""
    from lrfinder.engine.backend import keras

    return keras.optimizers.get(name)


def main() -> None:
    from lrfinder.params import ModelSettings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--optimizers", nargs="+", default=["adam", "adamw", "sgd", "rmsprop"])
    parser.add_argument("--grid-seeds", type=int, default=3)
    args = parser.parse_args()
    split = wine_split()
    seeds = list(range(100, 100 + args.grid_seeds))
    results = {}
    for name in args.optimizers:
        with Timer() as timer:
            results[name] = selection_against_grid(split, name, seeds)
        r = results[name]
        grid = ", ".join(f"{lr:.3g}: {v:.4f}" for lr, v in r["grid"].items())
        print(f"{name} ({timer.seconds:.0f} s) grid median best val loss: {grid}", flush=True)
    lines = [
        "| optimizer | valley | steepest | minimum/10 | chosen | Keras default | chosen's median val loss | grid best | gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s = r["suggestions"]
        lines.append(
            f"| {name} | {s['valley']:.3g} | {s['steepest']:.3g} | {s['minimum/10']:.3g} | "
            f"{r['chosen']:.3g} | {r['baseline_lr']:g} | {r['chosen_median']:.4f} | "
            f"{r['best']:.4f} at {r['best_lr']:.3g} | {r['chosen_median'] / r['best'] - 1:+.1%} |"
        )
    print()
    print("\n".join(lines))
    if "sgd" in results and "adam" in results:
        ratio = results["sgd"]["chosen"] / results["adam"]["chosen"]
        print(f"\nSGD's chosen rate / Adam's: {ratio:.1f}x")
    print("\n| optimizer | Keras fit, steps/s | engine K=8 | engine K=32 |\n|---|---|---|---|")
    x, y = split.arrays("train")
    for name in [n for n in ("adam", "sgd") if n in args.optimizers]:
        fit = keras_fit_steps_per_second(x, y, keras_optimizer(name))
        rates = engine_throughput([8, 32], STEPS, x, y, ModelSettings(optimizer=name))
        cells = " | ".join(f"{rates[k]:,.0f} ({rates[k] / fit:.1f}x)" for k in (8, 32))
        print(f"| {name} | {fit:.0f} | {cells} |")
        if name == "adam":
            dropped = engine_throughput(
                [8, 32], STEPS, x, y, ModelSettings(optimizer=name, dropout=0.2)
            )
            cells = " | ".join(
                f"{dropped[k]:,.0f} ({rates[k] / dropped[k]:.2f}x slower than without)"
                for k in (8, 32)
            )
            print(f"| adam, dropout 0.2 | - | {cells} |")


if __name__ == "__main__":
    main()
