"""The engine on both Keras backends: a JAX range test follows TensorFlow's, and a model exported
under one backend loads under the other and predicts as the engine does. The suite runs on
TensorFlow; the JAX side runs in a subprocess (Keras picks its backend once, at import)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lrfinder.engine.backend import BACKEND
from lrfinder.lr.suggest import suggest_table
from tests.backend_twin import range_test_table
from tests.helpers import recipe, tiny_classification

ROOT = Path(__file__).resolve().parents[2]
OTHER = "jax" if BACKEND == "tensorflow" else "tensorflow"
pytestmark = pytest.mark.slow  # each test starts the other backend in a process of its own


def on_other_backend(*args: str) -> None:
    if importlib.util.find_spec(OTHER) is None:
        pytest.skip(f"{OTHER} is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "tests.backend_twin", *args],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": OTHER},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_range_test_gives_the_same_curves_and_suggestion_on_both_backends(tmp_path):
    ours = range_test_table()
    on_other_backend("range-test", str(tmp_path / "other.parquet"))
    theirs = pd.read_parquet(tmp_path / "other.parquet")
    ours_valley, theirs_valley = (suggest_table(t)["valley"] for t in (ours, theirs))
    assert ours_valley.per_replica == pytest.approx(theirs_valley.per_replica, rel=1e-9)
    # Up to 10x the suggestion the curves agree to float32 rounding; far above it, where the
    # loss diverges, rounding differences grow as training itself blows up.
    calm = ours["lr"] <= 10 * ours_valley.lr
    merged = ours[calm].merge(theirs, on=["replica", "step"], suffixes=("", "_other"))
    assert len(merged) == calm.sum() > 100
    for column in ("loss", "smoothed_loss", "val_loss"):
        np.testing.assert_allclose(
            merged[column], merged[f"{column}_other"], rtol=1e-5, equal_nan=True, err_msg=column
        )
    assert merged["val_loss"].notna().sum() >= 9


def test_a_model_exported_here_loads_on_the_other_backend_and_predicts_alike(tmp_path):
    from lrfinder.engine.stacked import StackedMLP
    from lrfinder.model.export import to_keras

    x, y = tiny_classification(2)
    engine = StackedMLP(recipe(x.shape[1]), [1, 2, 3])
    engine.train(x, y, np.full(20, 1e-2))
    path = tmp_path / "ensemble.keras"
    to_keras(engine.spec, [engine.replica_weights(k) for k in range(3)]).save(path)
    np.save(tmp_path / "x.npy", x)
    on_other_backend("predict", str(path), str(tmp_path / "x.npy"), str(tmp_path / "p.npy"))
    other = np.load(tmp_path / "p.npy")[:, 0]
    np.testing.assert_allclose(other, engine.predict(x).mean(axis=0), atol=1e-6)
