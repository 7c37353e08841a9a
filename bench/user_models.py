"""The flow with users' own Keras models (`--model`) on the shared wine data, end to end, in one
process run: a functional residual MLP with BatchNormalization, a Sequential model with
LayerNormalization and GaussianNoise, and a model with a custom layer (`bench.user_layers`); the
residual one also with `--optimizer nadam`, `--optimizer lion` and `--loss
binary_focal_crossentropy`. For each run: the chosen rate, the test accuracy, the wall time, and
whether the saved model, reloaded in safe mode, predicts what was evaluated.

Usage: python -m bench.user_models [--only NAME ...] [--flow-args "--n-seeds 4 ..."]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import ROOT, Timer, wine_csv

N_FEATURES = 12  # the wine data's features after cleaning (is_white_wine included)


def residual_batchnorm():
    from lrfinder.engine.backend import keras

    x = keras.Input((N_FEATURES,))
    h = keras.layers.Dense(64, activation="relu", name="stem")(x)
    for block in range(2):
        branch = keras.layers.Dense(64, name=f"block{block}_dense")(h)
        branch = keras.layers.BatchNormalization(name=f"block{block}_norm")(branch)
        branch = keras.layers.Activation("relu", name=f"block{block}_relu")(branch)
        h = keras.layers.Add(name=f"block{block}_add")([h, branch])
    out = keras.layers.Dense(1, activation="sigmoid", name="good")(h)
    return keras.Model(x, out, name="residual_mlp")


def layernorm_noise():
    from lrfinder.engine.backend import keras

    return keras.Sequential(
        [
            keras.Input((N_FEATURES,)),
            keras.layers.GaussianNoise(0.1, name="jitter"),
            keras.layers.Dense(128, activation="gelu", name="wide"),
            keras.layers.LayerNormalization(name="norm"),
            keras.layers.Dense(64, activation="gelu", name="narrow"),
            keras.layers.Dense(1, activation="sigmoid", name="good"),
        ],
        name="layernorm_mlp",
    )


def custom_layer():
    from bench.user_layers import FeatureGate
    from lrfinder.engine.backend import keras

    return keras.Sequential(
        [
            keras.Input((N_FEATURES,)),
            FeatureGate(name="gate"),
            keras.layers.Dense(128, activation="relu", name="hidden"),
            keras.layers.Dense(1, activation="sigmoid", name="good"),
        ],
        name="gated_mlp",
    )


MODELS = {"residual": residual_batchnorm, "layernorm": layernorm_noise, "custom": custom_layer}
RUNS = {
    "residual": ("residual", []),
    "layernorm": ("layernorm", []),
    "custom": ("custom", ["--custom-module", "bench.user_layers"]),
    "residual-nadam": ("residual", ["--optimizer", "nadam"]),
    "residual-lion": ("residual", ["--optimizer", "lion"]),
    "residual-focal": ("residual", ["--loss", "binary_focal_crossentropy"]),
}


def run_flow(model_file: Path, flags: list[str], artifacts: Path) -> Path:
    env = {**os.environ, "LRFINDER_ARTIFACTS_DIR": str(artifacts), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "flows", "--data", str(wine_csv()), "--model", str(model_file)]
    done = subprocess.run(argv + flags, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return (artifacts / "latest").resolve()


def reload_gap(run_dir: Path, custom: bool) -> float:
    """The largest gap between the saved model's predictions (reloaded in safe mode) and the
    evaluated ones (predictions.parquet), on the test rows."""
    from lrfinder.model.network import load

    test = pd.read_parquet(run_dir / "test.parquet")
    features = json.loads((run_dir / "scaler.json").read_text())["columns"]
    model = load(run_dir / "model.keras", "bench.user_layers" if custom else None)
    predicted = model.predict(test[features].to_numpy("float32"), verbose=0)[:, 0]
    evaluated = pd.read_parquet(run_dir / "predictions.parquet")["prob_chosen"].to_numpy()
    return float(np.abs(predicted - evaluated).max())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", choices=sorted(RUNS), default=sorted(RUNS))
    parser.add_argument("--flow-args", default="", help="more flags for every run, in quotes")
    args = parser.parse_args()
    from lrfinder.model.network import save

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, build in MODELS.items():
            files[name] = Path(tmp) / f"{name}.keras"
            save(build(), files[name])
        for name in args.only:
            model, flags = RUNS[name]
            with Timer() as timer:
                every = flags + args.flow_args.split()
                run_dir = run_flow(files[model], every, Path(tmp) / name / "artifacts")
            metrics = json.loads((run_dir / "metrics.json").read_text())
            final = metrics["test"]["chosen"]["final"]
            row = {
                "run": name,
                "flags": " ".join(flags) or "-",
                "chosen_lr": metrics["chosen_lr"],
                "test_accuracy": final["accuracy"],
                "baseline_accuracy": metrics["test"]["baseline"]["final"]["accuracy"],
                "minutes": round(timer.seconds / 60, 1),
                "reload_gap": reload_gap(run_dir, model == "custom"),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
