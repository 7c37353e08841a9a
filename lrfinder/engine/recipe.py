"""What every engine of a stage is built from: the network, the optimizer, the batch size and
the longest epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrfinder.engine.optimizers import Optimizer
from lrfinder.model.spec import ModelSpec


@dataclass(frozen=True)
class Recipe:
    """`class_weight`: the loss weight of each class (index order), applied to training batches
    as Keras's `fit(class_weight=...)` does: each row's loss times its class's weight, averaged
    over the batch's rows. Validation losses are weighted alike here (Keras weighs them only when
    given sample weights with the validation data), so that the rate is selected and training
    stopped on the objective that is trained. None: every row counts 1."""

    spec: ModelSpec
    optimizer: Optimizer
    batch_size: int = 32
    max_epoch_steps: int | None = None
    class_weight: tuple[float, ...] | None = None

    def row_weights(self, y: np.ndarray) -> np.ndarray | None:
        """Each row's loss weight from its class (None without class weights)."""
        if self.class_weight is None:
            return None
        return np.asarray(self.class_weight, "float32")[np.asarray(y).astype(int)]

    def steps_per_epoch(self, n_rows: int) -> int:
        """Steps of one epoch on `n_rows` rows: a pass over them, or `max_epoch_steps` when a
        pass is longer (the next epoch then continues through the shuffled rows, as Keras's
        `fit(steps_per_epoch=...)` does on a repeated data set)."""
        full = self.steps_per_pass(n_rows)
        return full if self.max_epoch_steps is None else min(full, self.max_epoch_steps)

    def steps_per_pass(self, n_rows: int) -> int:
        """Steps of one pass over `n_rows` rows."""
        return -(-n_rows // self.batch_size)


def balanced_class_weight(y: np.ndarray, n_classes: int) -> tuple[float, ...]:
    """scikit-learn's "balanced" weights: rows / (classes x rows of the class), so that every
    class weighs as much in the loss; a class with no rows gets weight 1."""
    counts = np.bincount(np.asarray(y).astype(int), minlength=n_classes)
    weights = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 1.0)
    return tuple(float(w) for w in weights)
