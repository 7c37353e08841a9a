"""The tutorial's learning-rate sweep against our range test, in one process run.

(a) the tutorial as written: model.fit for 100 epochs with a LearningRateScheduler of
    1e-3 * 10**(epoch/30), one model; (b) our default range test: 8 seeded replicas, rate growing
    per batch from 1e-6 to 10 over 300 steps, each replica stopping when it diverges.
Both times include building and compiling the model; neither includes data preparation.
Then throughput: Keras fit's steps/s beside our engine's model-steps/s at K = 1, 8, 32, 64.

Usage: python -m bench.sweep
"""

from __future__ import annotations

from bench.common import Timer, tutorial_data, tutorial_model
from bench.throughput import engine_throughput

FIT_EPOCHS = 3


def tutorial_sweep(x, y) -> None:
    import tensorflow as tf

    tf.random.set_seed(42)
    model = tutorial_model()
    model.fit(
        x,
        y,
        epochs=100,
        verbose=0,
        callbacks=[
            tf.keras.callbacks.LearningRateScheduler(lambda epoch: 1e-3 * 10 ** (epoch / 30))
        ],
    )


def keras_fit_steps_per_second(x, y) -> float:
    """Steady-state steps/s of model.fit on the tutorial's model (after a warm-up epoch)."""
    import math

    model = tutorial_model()
    model.fit(x, y, epochs=1, verbose=0)
    with Timer() as timer:
        model.fit(x, y, epochs=FIT_EPOCHS, verbose=0)
    return FIT_EPOCHS * math.ceil(len(x) / 32) / timer.seconds


def main() -> None:
    import tensorflow as tf

    from lrfinder.engine.stacked import pick_device
    from lrfinder.lr.range_test import run_range_test
    from lrfinder.params import ModelSettings, RangeTestSettings

    x, _, y, _ = tutorial_data()
    tf.constant(0.0)
    print(f"device: {pick_device()}, train rows: {len(x)}")

    with Timer() as ours:
        result = run_range_test(x, y, ModelSettings(), RangeTestSettings())
    print(
        f"(b) our range test, 8 replicas: {ours.seconds:.1f} s "
        f"({result.summary['steps_run']} of {result.summary['steps_planned']} steps before all diverged)"
    )
    with Timer() as theirs:
        tutorial_sweep(x, y)
    print(f"(a) tutorial sweep, model.fit 100 epochs: {theirs.seconds:.1f} s")

    fit_rate = keras_fit_steps_per_second(x, y)
    print(f"keras fit: {fit_rate:.0f} steps/s")
    rates = engine_throughput([1, 8, 32, 64], 640, x, y)
    for k, rate in rates.items():
        print(f"engine K={k}: {rate / fit_rate:.1f}x keras fit throughput")
    print(f"range test: {theirs.seconds / ours.seconds:.1f}x faster than the tutorial's sweep")


if __name__ == "__main__":
    main()
