"""Group size on this machine: the default confirmation sweep's workload (7 candidate rates x 8
seeds, up to 6 epochs, patience 2) trained as one group of 56 replicas, as 7 groups of 8 one
after another, and as 2 groups of 28 in two threads, in one process run.

Usage: python -m bench.groups
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bench.common import Timer, tutorial_data

RATES = np.geomspace(1.8e-4, 5.4e-3, 7)
SEEDS = list(range(8))
HIDDEN = (128, 256, 256)


def main() -> None:
    from lrfinder.groups import Grouping, run_locally
    from lrfinder.training import evaluate_rates

    x, _, y, _ = tutorial_data()
    x_train, y_train, x_val, y_val = x[:4136], y[:4136], x[4136:], y[4136:]

    def threads(kind, calls):
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda call: run_locally(kind, [call])[0], calls))

    def sweep(group_size: int, map_groups=None):
        grouping = Grouping(group_size, spread=True)
        return evaluate_rates(
            x_train, y_train, x_val, y_val, RATES, SEEDS, 6, 2, HIDDEN, 32, grouping, map_groups
        )

    for size in (56, 28, 8):
        evaluate_rates(
            x_train, y_train, x_val, y_val, RATES[:1], SEEDS, 1, 1, HIDDEN, 32, Grouping(size)
        )
    results = {}
    for label, size, map_groups in (
        ("1 group of 56", 56, None),
        ("2 groups of 28 in 2 threads", 28, threads),
        ("7 groups of 8, one after another", 8, None),
    ):
        with Timer() as timer:
            table = sweep(size, map_groups)
        results[label] = timer.seconds
        medians = table.groupby("lr")["val_loss"].median().round(4).tolist()
        print(f"{label}: {timer.seconds:.1f} s, median val loss per rate {medians}")
    base = results["1 group of 56"]
    for label, seconds in results.items():
        print(f"{label}: {base / seconds:.2f}x the single group's speed")


if __name__ == "__main__":
    main()
