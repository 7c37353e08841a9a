"""The range test's rate schedules: plain Python, no TensorFlow."""

from __future__ import annotations

import numpy as np

from lrfinder.params import RangeTestSettings

TUTORIAL_START_LR = 1e-3
TUTORIAL_EPOCHS_PER_DECADE = 30


def step_rates(settings: RangeTestSettings, per_epoch: int) -> np.ndarray:
    """The learning rate of every training step. `batch`: exponential per batch from min_lr to
    max_lr over num_steps. `epoch`: the tutorial's 1e-3 * 10**(epoch/30), one rate per epoch of `per_epoch` steps."""
    if settings.sweep_mode == "epoch":
        rates = TUTORIAL_START_LR * 10 ** (
            np.arange(settings.sweep_epochs) / TUTORIAL_EPOCHS_PER_DECADE
        )
        return np.repeat(rates, per_epoch)
    fraction = np.arange(settings.num_steps) / (settings.num_steps - 1)
    return settings.min_lr * (settings.max_lr / settings.min_lr) ** fraction
