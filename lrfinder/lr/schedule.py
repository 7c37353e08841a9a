"""The range test's rate schedules: plain Python, no TensorFlow."""

from __future__ import annotations

import math

import numpy as np

from lrfinder.params import RangeTestSettings

TUTORIAL_START_LR = 1e-3
TUTORIAL_EPOCHS_PER_DECADE = 30


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return math.ceil(n_rows / batch_size)


def step_rates(settings: RangeTestSettings, n_rows: int, batch_size: int) -> np.ndarray:
    """The learning rate of every training step. `batch`: exponential per batch from min_lr to
    max_lr over num_steps. `epoch`: the tutorial's 1e-3 * 10**(epoch/30), one rate per epoch."""
    if settings.sweep_mode == "epoch":
        per_epoch = TUTORIAL_START_LR * 10 ** (
            np.arange(settings.sweep_epochs) / TUTORIAL_EPOCHS_PER_DECADE
        )
        return np.repeat(per_epoch, steps_per_epoch(n_rows, batch_size))
    fraction = np.arange(settings.num_steps) / (settings.num_steps - 1)
    return settings.min_lr * (settings.max_lr / settings.min_lr) ** fraction
