"""The default range test on the wine data on both Keras backends, compared point by point: how
many losses are bitwise equal and the largest relative difference per band of rates, and each
backend's suggestions. Each backend runs in its own process (Keras picks its backend once).

Usage: python -m bench.backends
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import BACKENDS, in_each_backend, tutorial_data
from lrfinder.engine.recipe import recipe_of

BANDS = [0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1, 100]


def measure() -> dict:
    from lrfinder.lr.range_test import run_range_test
    from lrfinder.lr.suggest import suggest_table
    from lrfinder.params import ModelSettings, RangeTestSettings

    x, x_test, y, y_test = tutorial_data()
    model = ModelSettings()
    recipe = recipe_of(model, x.shape[1])
    result = run_range_test(x, y, recipe, model.seeds, RangeTestSettings(), x_test, y_test)
    suggestions = {name: agg.lr for name, agg in suggest_table(result.table).items()}
    return {"table": result.table.to_dict("list"), "suggestions": suggestions}


def compare(results: dict[str, dict]) -> str:
    tf, jx = (pd.DataFrame(results[name]["table"]) for name in BACKENDS)
    both = tf.merge(jx, on=["replica", "step"], suffixes=("_tf", "_jax"))
    lines = [
        f"rows: tensorflow {len(tf)}, jax {len(jx)}, compared {len(both)}",
        "| rates | points | loss bitwise equal | max rel. diff, loss | max rel. diff, smoothed |",
        "|---|---|---|---|---|",
    ]
    band = pd.cut(both["lr_tf"], BANDS)
    for interval, part in both.groupby(band, observed=True):
        rel = {
            c: ((part[f"{c}_tf"] - part[f"{c}_jax"]).abs() / part[f"{c}_tf"].abs()).max()
            for c in ("loss", "smoothed_loss")
        }
        equal = np.mean(part["loss_tf"].to_numpy() == part["loss_jax"].to_numpy())
        lines.append(
            f"| {interval.left:g}-{interval.right:g} | {len(part)} | {equal:.0%} | "
            f"{rel['loss']:.1e} | {rel['smoothed_loss']:.1e} |"
        )
    lines.append("")
    for name in BACKENDS:
        picks = ", ".join(f"{m} {lr:.4g}" for m, lr in results[name]["suggestions"].items())
        lines.append(f"{name} suggestions: {picks}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        args.json.write_text(json.dumps(measure()))
        return
    print(compare(in_each_backend("bench.backends", list(BACKENDS), [])))


if __name__ == "__main__":
    main()
