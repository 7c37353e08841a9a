"""Group size on this machine: the default confirmation's workload (7 candidate rates x 8
seeds, up to 6 epochs, patience 2) trained as one group of 56 replicas, as 7 groups of 8 one
after another, and as 2 groups of 28 in two threads, in one process run.

Usage: python -m bench.groups
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bench.common import Timer, tutorial_data
from lrfinder.engine.recipe import recipe_of

RATES = np.geomspace(1.8e-4, 5.4e-3, 7)
SEEDS = list(range(8))


def main() -> None:
    from lrfinder.engine.groups import Grouping, Placement, run_locally
    from lrfinder.params import ModelSettings
    from lrfinder.training.fit import best_epochs, candidates_fit

    x, _, y, _ = tutorial_data()
    x_train, y_train, x_val, y_val = x[:4136], y[:4136], x[4136:], y[4136:]
    recipe = recipe_of(ModelSettings(), x.shape[1])

    def threads(fn, calls):
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda call: run_locally(fn, [call])[0], calls))

    def confirmation(group_size: int, map_groups=None):
        placement = Placement(Grouping(group_size, spread=True), map_groups)
        fit = candidates_fit(x_train, y_train, x_val, y_val, RATES, SEEDS, recipe, 6, 2, placement)
        return best_epochs(fit)

    for size in (56, 28, 8):
        candidates_fit(
            x_train,
            y_train,
            x_val,
            y_val,
            RATES[:1],
            SEEDS,
            recipe,
            1,
            1,
            Placement(Grouping(size)),
        )
    results = {}
    for label, size, map_groups in (
        ("1 group of 56", 56, None),
        ("2 groups of 28 in 2 threads", 28, threads),
        ("7 groups of 8, one after another", 8, None),
    ):
        with Timer() as timer:
            table = confirmation(size, map_groups)
        results[label] = timer.seconds
        medians = table.groupby("lr")["val_loss"].median().round(4).tolist()
        print(f"{label}: {timer.seconds:.1f} s, median val loss per rate {medians}")
    base = results["1 group of 56"]
    for label, seconds in results.items():
        print(f"{label}: {base / seconds:.2f}x the single group's speed")


if __name__ == "__main__":
    main()
