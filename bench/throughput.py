"""Engine throughput in model-steps per second at several replica counts K, per Keras backend,
beside Keras `fit`'s steps per second on the same backend and machine; optionally the default
range test's time at a few replica counts (each as one group, as a GPU user would run it).

With several backends, each runs in its own process, one after the other (Keras picks its
backend once, at import), and a table prints them side by side.

Usage: python -m bench.throughput [--backend tensorflow jax] [--ks 1 8 32 64] [--steps 640]
                                  [--range-test 8 64] [--no-fit]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from bench.common import BACKENDS, Timer, in_each_backend, tutorial_data
from lrfinder.engine.recipe import recipe_of

FIT_EPOCHS = 3


def engine_throughput(ks: list[int], steps: int, x, y, model=None) -> dict[int, float]:
    """Steady-state model-steps/s of the replica engine on the `model` settings (default: the
    tutorial's MLP with Adam; compile excluded: a warm-up call first). Stops at the first K
    that does not fit in the device's memory."""
    import numpy as np

    from lrfinder.engine.replicas import Replicas
    from lrfinder.params import ModelSettings

    recipe = recipe_of((model or ModelSettings()), x.shape[1])
    rates = {}
    for k in ks:
        try:
            model = Replicas(recipe, list(range(k)))
            model.train(x, y, np.full(64, 1e-3))
            with Timer() as timer:
                model.train(x, y, np.full(steps, 1e-3))
        except Exception as error:  # the backends' out-of-memory errors share no type
            print(f"engine K={k:5d}: stopped ({type(error).__name__}: {str(error)[:200]})")
            break
        rates[k] = steps * k / timer.seconds
        print(
            f"engine K={k:5d}: {rates[k]:10.0f} model-steps/s ({steps / timer.seconds:.0f} steps/s)",
            flush=True,
        )
    return rates


def keras_fit_steps_per_second(x, y, optimizer=None) -> float:
    """Steady-state steps/s of model.fit on the tutorial's model (with Adam or the Keras
    `optimizer` given; after a warm-up epoch)."""
    from bench.common import tutorial_model

    model = tutorial_model(optimizer)
    model.fit(x, y, epochs=1, verbose=0)
    with Timer() as timer:
        model.fit(x, y, epochs=FIT_EPOCHS, verbose=0)
    return FIT_EPOCHS * math.ceil(len(x) / 32) / timer.seconds


def range_test_seconds(x, y, n_seeds: int) -> dict:
    """The default range test with `n_seeds` replicas in one engine, compile included."""
    from lrfinder.engine.groups import Grouping, Placement
    from lrfinder.lr.range_test import run_range_test
    from lrfinder.params import ModelSettings, RangeTestSettings

    placement = Placement(Grouping(size=n_seeds))
    model = ModelSettings(n_seeds=n_seeds)
    with Timer() as timer:
        result = run_range_test(
            x,
            y,
            recipe_of(model, x.shape[1]),
            model.seeds,
            RangeTestSettings(),
            None,
            None,
            placement,
        )
    summary = result.summary
    print(
        f"range test, {n_seeds} replicas on {summary['device']}: {timer.seconds:.1f} s, "
        f"{summary['steps_run']} steps, {summary['model_steps_per_second']:.0f} model-steps/s",
        flush=True,
    )
    return {"seconds": timer.seconds, "steps_run": summary["steps_run"]}


def measure(args: argparse.Namespace) -> dict:
    """Every figure on the backend this process runs."""
    from lrfinder.engine.backend import BACKEND, pick_device

    x, _, y, _ = tutorial_data()
    device = pick_device()
    print(f"backend {BACKEND} on {device}, train rows {len(x)}", flush=True)
    result: dict = {"backend": BACKEND, "device": device}
    if not args.no_fit:
        result["keras_fit"] = keras_fit_steps_per_second(x, y)
        print(f"keras fit: {result['keras_fit']:.0f} steps/s", flush=True)
    result["range_test"] = {n: range_test_seconds(x, y, n) for n in args.range_test}
    result["engine"] = engine_throughput(args.ks, args.steps, x, y)
    return result


def table(results: dict[str, dict], reference_fit: float | None = None) -> str:
    """The backends side by side: engine model-steps/s per K and its ratio to Keras fit."""
    names = list(results)
    lines = [
        "| | " + " | ".join(f"{n} ({results[n]['device']})" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    fits = {n: results[n].get("keras_fit") for n in names}
    if any(fits.values()):
        lines.append("| Keras fit, steps/s | " + " | ".join(_num(fits[n]) for n in names) + " |")
    for n_seeds in sorted({int(k) for n in names for k in results[n]["range_test"]}):
        cells = [results[n]["range_test"].get(str(n_seeds)) for n in names]
        row = " | ".join("-" if c is None else f"{c['seconds']:.1f} s" for c in cells)
        lines.append(f"| range test, {n_seeds} replicas | {row} |")
    for k in sorted({int(k) for n in names for k in results[n]["engine"]}):
        cells = []
        for n in names:
            rate = results[n]["engine"].get(str(k))
            base = reference_fit or fits[n]
            ratio = f" ({rate / base:.1f}x fit)" if rate and base else ""
            cells.append("-" if rate is None else f"{rate:,.0f}{ratio}")
        lines.append(f"| engine K={k}, model-steps/s | " + " | ".join(cells) + " |")
    if reference_fit:
        lines.append(f"\n(x fit: against Keras fit at {reference_fit:,.0f} steps/s, the reference)")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--steps", type=int, default=640)
    parser.add_argument("--range-test", type=int, nargs="*", default=[], metavar="N_SEEDS")
    parser.add_argument("--no-fit", action="store_true", help="skip Keras fit's steps/s")
    parser.add_argument(
        "--reference-fit",
        type=float,
        help="steps/s of Keras fit to compare with instead of this machine's (e.g. a CPU's)",
    )
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        args.json.write_text(json.dumps(measure(args)))
        return
    argv = ["--ks", *map(str, args.ks), "--steps", str(args.steps)]
    argv += ["--range-test", *map(str, args.range_test)] + (["--no-fit"] if args.no_fit else [])
    results = in_each_backend("bench.throughput", args.backend, argv)
    print()
    print(table(results, args.reference_fit))


if __name__ == "__main__":
    main()
