"""Shared pieces of the benchmarks: the data the way the tutorial prepares it, and timers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
BACKENDS = ("tensorflow", "jax")

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (
    ROOT / "data" / "winequalityN.csv",
    ROOT.parent / "shared" / "data" / "winequalityN.csv",
)


def wine_csv() -> Path:
    for path in CANDIDATES:
        if path.is_file():
            return path
    raise SystemExit(f"wine data not found at {[str(p) for p in CANDIDATES]}")


def tutorial_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tutorial's preparation as written: dropna, is_white_wine, quality >= 6, 80/20 split
    with random_state=42, StandardScaler fit on the train part."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    df = pd.read_csv(wine_csv())
    df = df.dropna()
    df["is_white_wine"] = [1 if typ == "white" else 0 for typ in df["type"]]
    df["is_good_wine"] = [1 if quality >= 6 else 0 for quality in df["quality"]]
    df = df.drop(["type", "quality"], axis=1)
    x = df.drop("is_good_wine", axis=1)
    y = df["is_good_wine"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    scaler = StandardScaler()
    return (
        scaler.fit_transform(x_train).astype("float32"),
        scaler.transform(x_test).astype("float32"),
        y_train.to_numpy("float32"),
        y_test.to_numpy("float32"),
    )


def tutorial_model(optimizer=None):
    """The tutorial's MLP, compiled as it compiles it (on the backend Keras runs on; under
    TensorFlow, `keras` is `tf.keras`), with Adam or the Keras `optimizer` given."""
    from lrfinder.engine.backend import keras

    model = keras.Sequential(
        [
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        loss=keras.losses.binary_crossentropy,
        optimizer=optimizer or keras.optimizers.Adam(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def in_each_backend(module: str, backends: list[str], argv: list[str]) -> dict[str, dict]:
    """Run `python -m module --backend NAME --json FILE *argv` for each Keras backend, one after
    the other and each in its own process (Keras picks its backend once, at import); its output
    shows as it runs. Returns each backend's JSON result."""
    results = {}
    for name in backends:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            command = [sys.executable, "-m", module, "--backend", name, "--json", str(out), *argv]
            env = {**os.environ, "KERAS_BACKEND": name}
            subprocess.run(command, env=env, cwd=ROOT, check=True)
            results[name] = json.loads(out.read_text())
    return results


def prefect_sandbox(folder: Path) -> dict[str, str]:
    """Environment for a flow run whose Prefect home, database, results and run folders live in
    `folder` (a temporary Prefect server, quiet logs)."""
    return {
        "PREFECT_HOME": str(folder / "prefect"),
        "PREFECT_LOCAL_STORAGE_PATH": str(folder / "results"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "LRFINDER_ARTIFACTS_DIR": str(folder / "artifacts"),
    }


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.start


# Fixed rates a selection is compared with: 9 log-spaced from 1e-4 to 1.
GRID = np.geomspace(1e-4, 1.0, 9)


def grid_medians(data, recipe, chosen_lr: float, seeds: list[int]) -> pd.Series:
    """Median best validation loss per rate, for the GRID and `chosen_lr`, each trained from
    `seeds` with the final training's early stopping; `data` is (x, y, x_val, y_val)."""
    from lrfinder.params import TrainingSettings
    from lrfinder.training.fit import best_epochs, candidates_fit

    training = TrainingSettings()
    rates = np.append(GRID, chosen_lr)
    fit = candidates_fit(*data, rates, seeds, recipe, training.max_epochs, training.patience)
    table = best_epochs(fit)
    return table.groupby("lr")["val_loss"].median()


def grid_best(medians: pd.Series, chosen_lr: float) -> tuple[float, float]:
    """The best GRID rate and its median loss (the chosen rate counts only if on the grid)."""
    grid = medians.drop(chosen_lr) if chosen_lr not in GRID else medians
    return float(grid.idxmin()), float(grid.min())
