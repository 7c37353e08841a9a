"""The tutorial's learning-rate sweep against our range test, per Keras backend.

(a) the tutorial as written: model.fit for 100 epochs with a LearningRateScheduler of
    1e-3 * 10**(epoch/30), one model; (b) our default range test: 8 seeded replicas, rate growing
    per batch from 1e-6 to 10 over 300 steps, each replica stopping when it diverges.
Both times include building and compiling the model; neither includes data preparation. Then
throughput: Keras fit's steps/s beside our engine's model-steps/s at K = 1, 8, 32, 64.

Each backend runs (a) and (b) in one process, one backend after the other (Keras picks its
backend once, at import), and a table prints them side by side.

Usage: python -m bench.sweep [--backend tensorflow jax]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import BACKENDS, Timer, in_each_backend, tutorial_data, tutorial_model
from bench.throughput import engine_throughput, keras_fit_steps_per_second
from lrfinder.engine.recipe import recipe_of

KS = [1, 8, 32, 64]


def tutorial_sweep(x, y) -> None:
    from lrfinder.engine.backend import keras

    keras.utils.set_random_seed(42)
    model = tutorial_model()
    model.fit(
        x,
        y,
        epochs=100,
        verbose=0,
        callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch: 1e-3 * 10 ** (epoch / 30))],
    )


def measure() -> dict:
    from lrfinder.engine.backend import BACKEND, pick_device
    from lrfinder.lr.range_test import run_range_test
    from lrfinder.params import ModelSettings, RangeTestSettings

    x, _, y, _ = tutorial_data()
    device = pick_device()
    print(f"backend {BACKEND} on {device}, train rows: {len(x)}", flush=True)
    with Timer() as ours:
        model = ModelSettings()
        result = run_range_test(
            x, y, recipe_of(model, x.shape[1]), model.seeds, RangeTestSettings()
        )
    summary = result.summary
    print(
        f"(b) our range test, 8 replicas: {ours.seconds:.1f} s "
        f"({summary['steps_run']} of {summary['steps_planned']} steps before all diverged)",
        flush=True,
    )
    with Timer() as theirs:
        tutorial_sweep(x, y)
    print(f"(a) tutorial sweep, model.fit 100 epochs: {theirs.seconds:.1f} s", flush=True)
    fit = keras_fit_steps_per_second(x, y)
    print(f"keras fit: {fit:.0f} steps/s", flush=True)
    return {
        "device": device,
        "ours": ours.seconds,
        "tutorial": theirs.seconds,
        "keras_fit": fit,
        "engine": engine_throughput(KS, 640, x, y),
    }


def table(results: dict[str, dict]) -> str:
    names = list(results)
    rows = {
        "(a) tutorial sweep, s": [f"{results[n]['tutorial']:.1f}" for n in names],
        "(b) our range test, s": [f"{results[n]['ours']:.1f}" for n in names],
        "(a) / (b)": [f"{results[n]['tutorial'] / results[n]['ours']:.1f}x" for n in names],
        "Keras fit, steps/s": [f"{results[n]['keras_fit']:.0f}" for n in names],
    }
    for k in KS:
        rows[f"engine K={k}, model-steps/s"] = [
            f"{results[n]['engine'][str(k)]:,.0f} "
            f"({results[n]['engine'][str(k)] / results[n]['keras_fit']:.1f}x fit)"
            for n in names
        ]
    lines = [
        "| | " + " | ".join(f"{n} ({results[n]['device']})" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        args.json.write_text(json.dumps(measure()))
        return
    results = in_each_backend("bench.sweep", args.backend, [])
    print()
    print(table(results))


if __name__ == "__main__":
    main()
