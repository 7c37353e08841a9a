"""The same engine work on whichever Keras backend this process runs (KERAS_BACKEND), for tests
that compare backends: `python -m tests.backend_twin range-test OUT.parquet` writes a small range
test's table; `python -m tests.backend_twin predict MODEL.keras X.npy OUT.npy` writes a saved
model's predictions."""

from __future__ import annotations

import sys

import numpy as np

from lrfinder.engine.recipe import recipe_of
from tests.helpers import TINY, tiny_classification


def range_test_table():
    """A 3-replica range test on tiny data, from 1e-4 up to divergence, with a validation
    sample."""
    from lrfinder.lr.range_test import run_range_test
    from lrfinder.params import ModelSettings, RangeTestSettings

    x, y = tiny_classification(1, n_rows=300)
    model = ModelSettings(n_seeds=3, seed=5, **TINY)
    settings = RangeTestSettings(min_lr=1e-4, max_lr=10.0, num_steps=120, sweep_val_sample=100)
    return run_range_test(
        x, y, recipe_of(model, x.shape[1]), model.seeds, settings, x_val=x, y_val=y
    ).table


def main(argv: list[str]) -> None:
    if argv[0] == "range-test":
        range_test_table().to_parquet(argv[1])
    elif argv[0] == "predict":
        from lrfinder.engine.backend import keras

        model = keras.saving.load_model(argv[1], safe_mode=True)
        np.save(argv[3], model.predict(np.load(argv[2]), verbose=0))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
