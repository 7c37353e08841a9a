"""What every engine of a stage is built from: the network, the optimizer, the batch size and
the longest epoch."""

from __future__ import annotations

from dataclasses import dataclass

from lrfinder.engine.optimizers import Optimizer
from lrfinder.model.spec import ModelSpec


@dataclass(frozen=True)
class Recipe:
    spec: ModelSpec
    optimizer: Optimizer
    batch_size: int = 32
    max_epoch_steps: int | None = None

    def steps_per_epoch(self, n_rows: int) -> int:
        """Steps of one epoch on `n_rows` rows: a pass over them, or `max_epoch_steps` when a
        pass is longer (the next epoch then continues through the shuffled rows, as Keras's
        `fit(steps_per_epoch=...)` does on a repeated data set)."""
        full = self.steps_per_pass(n_rows)
        return full if self.max_epoch_steps is None else min(full, self.max_epoch_steps)

    def steps_per_pass(self, n_rows: int) -> int:
        """Steps of one pass over `n_rows` rows."""
        return -(-n_rows // self.batch_size)
