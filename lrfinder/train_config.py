"""Final-training and quality-gate settings, and the tutorial preset: plain Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

TUTORIAL_PRESET: dict[str, Any] = {
    "val_size": 0.0,
    "sweep_mode": "epoch",
    "n_seeds": 1,
    "suggest_method": "argmin",
    "confirm": False,
    "max_epochs": 100,
    "refit": False,
    "final_model": "single",
}


def apply_preset(preset: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """`default` keeps the parameters; `tutorial` overrides them to reproduce the tutorial: no
    validation split, the per-epoch range test, argmin of the training loss, 100 epochs without
    early stopping, a single model."""
    if preset == "default":
        return dict(parameters)
    if preset == "tutorial":
        return {**parameters, **TUTORIAL_PRESET}
    raise ValueError(f"preset={preset!r}: use 'default' or 'tutorial'.")


@dataclass(frozen=True)
class TrainConfig:
    """Chosen rate and baseline trained together, `n_seeds` replicas each."""

    max_epochs: int = 100
    patience: int = 10
    refit: bool = True
    final_model: Literal["ensemble", "single"] = "ensemble"
    baseline_lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patience < 1:
            raise ValueError("max_epochs and patience must be at least 1.")
        if self.final_model not in ("ensemble", "single"):
            raise ValueError(f"final_model={self.final_model!r}: use 'ensemble' or 'single'.")


@dataclass(frozen=True)
class GateConfig:
    """Fail the run (or only warn) when the final model's test accuracy is below the minimum."""

    min_accuracy: float = 0.0
    mode: Literal["warn", "fail"] = "warn"


class QualityGateError(RuntimeError):
    """The final model's test accuracy is below the configured minimum."""


def check_gate(accuracy: float, gate: GateConfig) -> str | None:
    """None when the gate passes, else the message (the caller warns or fails with it)."""
    if accuracy >= gate.min_accuracy:
        return None
    return (
        f"quality gate: test accuracy {accuracy:.4f} is below the minimum {gate.min_accuracy:.4f}. "
        "Inspect metrics.json and the charts, or lower min_test_accuracy."
    )


@dataclass(frozen=True)
class Fit:
    """Stacked Keras-order weights of every replica, its rate and seed, per-epoch history
    (`stage` fit or refit) and the epoch count each replica ended with."""

    weights: list[np.ndarray]
    rates: list[float]
    seeds: list[int]
    history: pd.DataFrame
    epochs: list[int]
