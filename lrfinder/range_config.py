"""Range-test settings and rate schedules: plain Python, no TensorFlow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lrfinder.groups import Grouping

TUTORIAL_START_LR = 1e-3
TUTORIAL_EPOCHS_PER_DECADE = 30


@dataclass(frozen=True)
class RangeTestConfig:
    """`batch`: the rate grows exponentially per batch from min_lr to max_lr over num_steps and a
    replica stops when its smoothed loss diverges. `epoch`: the tutorial's 1e-3 * 10**(epoch/30)
    for `epochs` epochs, one rate per epoch, no early stop. Every stage splits its replicas into
    groups of at most `group_size` (one vectorized engine each), each asking its task runner for
    `gpus_per_group` GPUs; the training stages queue their replicas for one engine's slots unless
    `spread_groups` (see `Grouping`)."""

    mode: Literal["batch", "epoch"] = "batch"
    min_lr: float = 1e-6
    max_lr: float = 10.0
    num_steps: int = 300
    epochs: int = 100
    n_seeds: int = 8
    seed: int = 0
    hidden: tuple[int, ...] = (128, 256, 256)
    batch_size: int = 32
    beta: float = 0.98
    diverge_factor: float = 4.0
    val_sample: int = 0
    val_every: int = 10
    group_size: int = 8
    gpus_per_group: float = 0.0
    spread_groups: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("batch", "epoch"):
            raise ValueError(f"sweep_mode={self.mode!r}: use 'batch' or 'epoch'.")
        if not 0 < self.min_lr < self.max_lr:
            raise ValueError(
                f"min_lr={self.min_lr}, max_lr={self.max_lr}: need 0 < min_lr < max_lr."
            )
        if self.num_steps < 10:
            raise ValueError(f"num_steps={self.num_steps}: a range test needs at least 10 steps.")
        if self.n_seeds < 1 or self.epochs < 1 or self.batch_size < 1 or self.group_size < 1:
            raise ValueError(
                "n_seeds, epochs, batch_size and replicas_per_group must be at least 1."
            )

    @property
    def grouping(self) -> Grouping:
        return Grouping(self.group_size, self.spread_groups)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.n_seeds))


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return math.ceil(n_rows / batch_size)


def step_rates(config: RangeTestConfig, n_rows: int) -> np.ndarray:
    """The learning rate of every training step."""
    if config.mode == "epoch":
        per_epoch = TUTORIAL_START_LR * 10 ** (
            np.arange(config.epochs) / TUTORIAL_EPOCHS_PER_DECADE
        )
        return np.repeat(per_epoch, steps_per_epoch(n_rows, config.batch_size))
    fraction = np.arange(config.num_steps) / (config.num_steps - 1)
    return config.min_lr * (config.max_lr / config.min_lr) ** fraction
