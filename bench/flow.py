"""The tutorial notebook's whole job against our flow, cold and then warm, in one process run.

(a) tutorial as written: the 100-epoch LearningRateScheduler sweep, a retrain at 0.007 for 100
    epochs, test accuracy; (b) our flow with its defaults (range test with 8 seeds, confirmation
    runs, chosen rate and baseline trained with 8 seeds each, evaluation, charts, model), first
    with an empty cache (including the temporary Prefect server's start), then again with
    everything cached. Prefect state and outputs go to a temporary folder.

Usage: python -m bench.flow [the flags of make run, e.g. --n-seeds 4]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from bench.common import Timer, prefect_sandbox, tutorial_data, tutorial_model

STATE = Path(tempfile.mkdtemp(prefix="lrfinder-bench-"))
os.environ.update(prefect_sandbox(STATE))


def tutorial_job() -> float:
    """Sweep, retrain at the eyeballed 0.007, evaluate: the tutorial's notebook end to end."""
    import tensorflow as tf

    x_train, x_test, y_train, y_test = tutorial_data()
    tf.random.set_seed(42)
    sweep = tutorial_model()
    sweep.fit(
        x_train,
        y_train,
        epochs=100,
        verbose=0,
        callbacks=[
            tf.keras.callbacks.LearningRateScheduler(lambda epoch: 1e-3 * 10 ** (epoch / 30))
        ],
    )
    model = tutorial_model()
    model.optimizer.learning_rate = 0.007
    model.fit(x_train, y_train, epochs=100, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return float(accuracy)


def parse(argv: list[str]) -> dict:
    """The flow's parameters from the same flags as `make run` (`--n-seeds 4`)."""
    from flows.cli import parse_args

    settings = parse_args(argv).settings
    return dict(settings)


def start_prefect() -> None:
    """An empty flow run: starts the temporary Prefect server, as a deployment finds it running."""
    from prefect import flow

    flow(name="bench-start-server")(lambda: None)()


def main() -> None:
    from flows.lr_finder import lr_finder

    parameters = parse(sys.argv[1:])
    with Timer() as theirs:
        tutorial_accuracy = tutorial_job()
    print(
        f"(a) tutorial job (sweep, retrain at 0.007, evaluate): {theirs.seconds:.1f} s, test accuracy {tutorial_accuracy:.4f}"
    )
    with Timer() as server:
        start_prefect()
    print(f"temporary Prefect server start (an empty flow run): {server.seconds:.1f} s")
    with Timer() as cold:
        run_dir = Path(lr_finder(**parameters))
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]
    chosen, baseline = metrics["chosen"], metrics["baseline"]
    print(
        f"(b) our flow, cold: {cold.seconds:.1f} s, chosen lr "
        f"{json.loads((run_dir / 'selection.json').read_text())['chosen_lr']:.4g}: test accuracy "
        f"{chosen['final']['accuracy']:.4f} ({metrics['final_model']}; per seed "
        f"{chosen['across_seeds']['accuracy']['mean']:.4f} ± {chosen['across_seeds']['accuracy']['std']:.4f}), "
        f"baseline {baseline['final']['accuracy']:.4f} (per seed "
        f"{baseline['across_seeds']['accuracy']['mean']:.4f} ± {baseline['across_seeds']['accuracy']['std']:.4f})"
    )
    with Timer() as warm:
        lr_finder(**parameters)
    print(f"(b) our flow, warm (cached): {warm.seconds:.1f} s")
    print(f"cold flow / tutorial job: {cold.seconds / theirs.seconds:.2f} (target <= 0.5)")
    print(
        "cold flow + temporary server start / tutorial job: "
        f"{(cold.seconds + server.seconds) / theirs.seconds:.2f}"
    )
    print(f"warm / cold: {warm.seconds / cold.seconds:.3f} (target <= 0.1)")


if __name__ == "__main__":
    main()
