"""Engine throughput in model-steps per second at several replica counts K.

Usage: python -m bench.throughput [--ks 1 8 32 64] [--steps 640] [--range-test]
"""

from __future__ import annotations

import argparse

from bench.common import Timer, tutorial_data


def engine_throughput(ks: list[int], steps: int, x, y) -> dict[int, float]:
    """Steady-state model-steps/s of the stacked engine (compile excluded: a warm-up call first)."""
    import numpy as np

    from lrfinder.engine.stacked import StackedMLP
    from lrfinder.params import ModelSettings

    recipe = ModelSettings().recipe(x.shape[1])
    rates = {}
    for k in ks:
        model = StackedMLP(recipe, list(range(k)))
        model.train(x, y, np.full(64, 1e-3))
        with Timer() as timer:
            model.train(x, y, np.full(steps, 1e-3))
        rates[k] = steps * k / timer.seconds
        print(
            f"engine K={k:5d}: {rates[k]:10.0f} model-steps/s ({steps / timer.seconds:.0f} steps/s)"
        )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--steps", type=int, default=640)
    parser.add_argument(
        "--range-test", action="store_true", help="also time the default range test"
    )
    args = parser.parse_args()
    x, _, y, _ = tutorial_data()
    from lrfinder.engine.stacked import pick_device

    print(f"device: {pick_device()}")
    if args.range_test:
        from lrfinder.lr.range_test import run_range_test
        from lrfinder.params import ModelSettings, RangeTestSettings

        for n_seeds in (8, 64):
            with Timer() as timer:
                model = ModelSettings(n_seeds=n_seeds)
                result = run_range_test(x, y, model, RangeTestSettings())
            summary = result.summary
            print(
                f"range test, {n_seeds} replicas on {summary['device']}: {timer.seconds:.1f} s, "
                f"{summary['steps_run']} steps, {summary['model_steps_per_second']:.0f} model-steps/s"
            )
    engine_throughput(args.ks, args.steps, x, y)


if __name__ == "__main__":
    main()
