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
    def loss(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray: ...
    def accuracy(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray: ...


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
        weight = ops.broadcast_to(weight, logits.shape)
        losses = ops.binary_crossentropy(labels, logits, from_logits=True)
        return ops.sum(losses * weight, axis=-1) / ops.sum(weight, axis=-1)

    def batch_hits(self, logits, y):
        """1.0 where a row's prediction is right, else 0.0: (K, B)."""
        from lrfinder.engine.backend import keras

        ops = keras.ops
        return ops.cast(ops.equal(logits[..., 0] >= 0.0, y >= 0.5), "float32")

    def predict(self, logits: np.ndarray) -> np.ndarray:
        """Probabilities of class 1 from logits (K, N, 1): (K, N)."""
        return 1.0 / (1.0 + np.exp(-logits[..., 0]))

    def loss(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mean binary cross-entropy per replica from logits (K, N, 1), stable form: (K,)."""
        z = logits[..., 0]
        return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)

    def accuracy(self, logits: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Share of rows predicted right per replica: (K,)."""
        return ((logits[..., 0] >= 0) == (y >= 0.5)).mean(axis=-1)


BINARY = BinaryHead()
