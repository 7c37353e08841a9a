"""Output heads: the last layer's units and activation, the loss computed from its logits, and
what a prediction and a hit are. The engine's functions (in `keras.ops`, on any backend) import
Keras when they run, so the rest of this module (and the settings that name a head) stays light."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Head(Protocol):
    """What the engine, the NumPy forward pass and the export need from an output head."""

    name: str
    units: int
    activation: str
    keras_loss: str

    def batch_loss(self, logits: Any, y: Any, weight: Any) -> Any: ...
    def batch_hits(self, logits: Any, y: Any) -> Any: ...
    def predict(self, logits: np.ndarray) -> np.ndarray: ...
    def loss(
        self, logits: np.ndarray, y: np.ndarray, row_weight: np.ndarray | None = None
    ) -> np.ndarray: ...
    def accuracy(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray: ...


def _mean(losses: np.ndarray, row_weight: np.ndarray | None) -> np.ndarray:
    """Mean over rows (last axis) of row losses, each times its weight when given (Keras's
    reduction of weighted rows: divided by the row count, not by the weights' sum)."""
    return (losses if row_weight is None else losses * row_weight).mean(axis=-1)


def _weighted_mean(ops: Any, losses: Any, weight: Any) -> Any:
    """Per-replica mean of row losses over the real (weight 1) rows: (K,)."""
    weight = ops.broadcast_to(weight, losses.shape)
    return ops.sum(losses * weight, axis=-1) / ops.sum(weight, axis=-1)


# Heads by task. Adding one: a frozen dataclass with the Head protocol, a branch in `head_for`
# and its name in TASKS, then its metrics (training/evaluation.py) and charts.


@dataclass(frozen=True)
class BinaryHead:
    """One sigmoid unit with binary cross-entropy, as Keras computes it from the logits."""

    name: str = "binary"
    units: int = 1
    activation: str = "sigmoid"
    keras_loss: str = "binary_crossentropy"

    def batch_loss(self, logits, y, weight):
        """Per-replica mean loss over the real (weight 1) rows of padded batches: (K,).
        logits (K, B, 1), y (B,) or (K, B), weight (K, B)."""
        from lrfinder.engine.backend import keras

        ops = keras.ops
        logits = logits[..., 0]
        labels = ops.broadcast_to(y, logits.shape)
        losses = ops.binary_crossentropy(labels, logits, from_logits=True)
        return _weighted_mean(ops, losses, weight)

    def batch_hits(self, logits, y):
        """1.0 where a row's prediction is right, else 0.0: (K, B)."""
        from lrfinder.engine.backend import keras

        ops = keras.ops
        return ops.cast(ops.equal(logits[..., 0] >= 0.0, y >= 0.5), "float32")

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities of class 1 from logits (K, N, 1): (K, N); a very negative logit's
        exp overflows to inf, which gives 0 exactly (so that overflow is no warning)."""
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-logits[..., 0]))

    def loss(
        self, logits: np.ndarray, y: np.ndarray, row_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """Mean binary cross-entropy per replica from logits (K, N, 1), stable form: (K,)."""
        z = logits[..., 0]
        return _mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), row_weight)

    def accuracy(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Share of rows predicted right per replica: (K,)."""
        return ((logits[..., 0] >= 0) == (y >= 0.5)).mean(axis=-1)


BINARY = BinaryHead()


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class MulticlassHead:
    """One softmax unit per class with sparse categorical cross-entropy from the logits; the
    target is the class index (0 .. units-1)."""

    units: int
    name: str = "multiclass"
    activation: str = "softmax"
    keras_loss: str = "sparse_categorical_crossentropy"

    def batch_loss(self, logits, y, weight):
        """logits (K, B, units), y (B,) or (K, B) class indices, weight (K, B) -> (K,)."""
        from lrfinder.engine.backend import keras

        ops = keras.ops
        labels = ops.cast(ops.broadcast_to(y, logits.shape[:-1]), "int32")
        losses = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return _weighted_mean(ops, losses, weight)

    def batch_hits(self, logits, y):
        from lrfinder.engine.backend import keras

        ops = keras.ops
        predicted = ops.cast(ops.argmax(logits, axis=-1), "float32")
        return ops.cast(ops.equal(predicted, y), "float32")

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """Class probabilities from logits (K, N, units): (K, N, units)."""
        return _softmax(logits)

    def loss(
        self, logits: np.ndarray, y: np.ndarray, row_weight: np.ndarray | None = None
    ) -> np.ndarray:
        z = logits - logits.max(axis=-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        picked = np.take_along_axis(log_p, np.asarray(y, int)[None, :, None], axis=-1)[..., 0]
        return _mean(-picked, row_weight)

    def accuracy(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (logits.argmax(axis=-1) == np.asarray(y, int)).mean(axis=-1)


@dataclass(frozen=True)
class RegressionHead:
    """One linear unit; mean squared error, or Huber (Keras's, delta 1) for heavy tails. The
    target is standardised on train, so both losses work on its scale."""

    loss_name: str = "mse"
    name: str = "regression"
    units: int = 1
    activation: str = "linear"

    @property
    def keras_loss(self) -> str:
        return {"mse": "mean_squared_error", "huber": "huber"}[self.loss_name]

    def batch_loss(self, logits, y, weight):
        from lrfinder.engine.backend import keras

        ops = keras.ops
        error = logits[..., 0] - ops.broadcast_to(y, logits.shape[:-1])
        if self.loss_name == "mse":
            losses = ops.square(error)
        else:
            size = ops.abs(error)
            losses = ops.where(size <= 1.0, 0.5 * ops.square(error), size - 0.5)
        return _weighted_mean(ops, losses, weight)

    def batch_hits(self, logits, y):
        """No hits for a number: NaN, so the recorded 'accuracy' reads as not applicable."""
        from lrfinder.engine.backend import keras

        return keras.ops.full(logits.shape[:-1], float("nan"))

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """Predictions on the standardised target's scale: (K, N)."""
        return logits[..., 0]

    def loss(
        self, logits: np.ndarray, y: np.ndarray, row_weight: np.ndarray | None = None
    ) -> np.ndarray:
        error = logits[..., 0] - y
        if self.loss_name == "mse":
            return _mean(error**2, row_weight)
        size = np.abs(error)
        return _mean(np.where(size <= 1.0, 0.5 * error**2, size - 0.5), row_weight)

    def accuracy(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.full(logits.shape[0], np.nan)


TASKS = ("binary", "multiclass", "regression")
REGRESSION_LOSSES = ("mse", "huber")


def head_for(task: str, n_classes: int = 2, regression_loss: str = "mse") -> Head:
    """The output head of a task: `binary`, `multiclass` (with `n_classes`) or `regression`."""
    if task == "binary":
        return BINARY
    if task == "multiclass":
        return MulticlassHead(n_classes)
    if task == "regression":
        return RegressionHead(regression_loss)
    raise ValueError(f"unknown task {task!r}: use one of {TASKS}.")
