"""The final model as a Keras file, checked: it reloads in safe mode and predicts as saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lrfinder.data.splitting import SplitData
from lrfinder.engine.recipe import ROWS_AT_ONCE
from lrfinder.fileio import atomic_path
from lrfinder.model.network import load, save, to_keras
from lrfinder.training.final import Trained, final_output

PREDICTION_TOLERANCE = 1e-5


def save_final_model(trained: Trained, split: SplitData, target: Path) -> Path:
    """Save the chosen rate's final model to `target` (atomically), after checking that the
    saved file reloads in safe mode and predicts the test set as the replicas do."""
    x_test, _ = split.arrays("test")
    with atomic_path(target) as tmp:
        network = trained.recipe.network
        replicas = [state.variables for state in trained.final_replicas("chosen")]
        save(to_keras(network, replicas, split.scaler.get("target")), tmp)
        reloaded = load(tmp, network.custom_module).predict(
            x_test, batch_size=ROWS_AT_ONCE, verbose=0
        )
        # Compared on the model's own scale: a regression output in large units may differ by
        # float32 rounding times the target's scale.
        scale = split.scaler["target"]["scale"] if "target" in split.scaler else 1.0
        gap = np.abs(reloaded - final_output(trained, split)).max() / scale
        if gap > PREDICTION_TOLERANCE:
            raise RuntimeError(f"model.keras predicts {gap:.2e} away from the saved predictions")
    return target
