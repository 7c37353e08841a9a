"""Output heads: what a task asks of the model's output (its width, the activation of the default
network's last layer), the Keras losses that fit it, its default loss and accuracy metric, and a
prediction read from the model's outputs. Losses and metrics are Keras's own, by name; this module
imports no Keras, so the settings that name a head stay light."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrfinder.names import LOSSES, TASKS


@dataclass(frozen=True)
class Head:
    """A task's output: `units` outputs, the default network's last `activation`, the Keras
    `metric` recorded as accuracy (None: no accuracy, for a number)."""

    name: str
    units: int
    activation: str
    metric: str | None

    @property
    def losses(self) -> tuple[str, ...]:
        return LOSSES[self.name]

    @property
    def default_loss(self) -> str:
        return self.losses[0]

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """Predictions from model outputs (K, N, units): class-1 probabilities (K, N) for binary,
        class probabilities (K, N, units) for multiclass, numbers (K, N) for regression."""
        return outputs if self.name == "multiclass" else outputs[..., 0]


BINARY = Head("binary", 1, "sigmoid", "binary_accuracy")
REGRESSION = Head("regression", 1, "linear", None)


def head_for(task: str, n_classes: int = 2) -> Head:
    """The output head of a task: `binary`, `multiclass` (with `n_classes`) or `regression`."""
    if task == "binary":
        return BINARY
    if task == "multiclass":
        return Head("multiclass", n_classes, "softmax", "sparse_categorical_accuracy")
    if task == "regression":
        return REGRESSION
    raise ValueError(f"unknown task {task!r}: use one of {TASKS}.")
