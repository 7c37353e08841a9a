"""The engine on both Keras backends: a range test suggests a rate of the same size, and a model
exported under one backend loads under the other and predicts as the engine does. The other
backend runs in a subprocess (Keras picks its backend once, at import)."""

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
OTHER = "tensorflow" if BACKEND == "jax" else "jax"
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


def test_a_range_test_on_either_backend_suggests_a_rate_of_the_same_size(tmp_path):
    # Each backend draws the initial weights with its own random numbers, so the curves differ
    # replica by replica; the rate they suggest must not.
    ours = range_test_table()
    on_other_backend("range-test", str(tmp_path / "other.parquet"))
    theirs = pd.read_parquet(tmp_path / "other.parquet")
    ours_valley, theirs_valley = (suggest_table(t)["valley"] for t in (ours, theirs))
    assert 1 / 3 < ours_valley.lr / theirs_valley.lr < 3
    assert len(theirs) > 100 and theirs["val_loss"].notna().sum() >= 9


def test_a_model_exported_here_loads_on_the_other_backend_and_predicts_alike(tmp_path):
    from lrfinder.engine.replicas import Replicas
    from lrfinder.model.network import save, to_keras

    x, y = tiny_classification(2)
    engine = Replicas(recipe(x.shape[1], dropout=0.2), [1, 2, 3])
    engine.train(x, y, np.full(20, 1e-2))
    path = tmp_path / "ensemble.keras"
    save(to_keras(engine.recipe.network, [s.variables for s in engine.states()]), path)
    np.save(tmp_path / "x.npy", x)
    on_other_backend("predict", str(path), str(tmp_path / "x.npy"), str(tmp_path / "p.npy"))
    other = np.load(tmp_path / "p.npy")[:, 0]
    np.testing.assert_allclose(other, engine.outputs(x)[..., 0].mean(axis=0), atol=1e-6)
