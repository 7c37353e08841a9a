"""The network's forward pass in NumPy for stacked Keras-order weights: no TensorFlow needed."""

from __future__ import annotations

import numpy as np

from lrfinder.model.spec import ACTIVATIONS, ModelSpec


def logits(spec: ModelSpec, stacked: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Stacked weights [W1 (K, F, H1), b1 (K, H1), ...] and x (N, F) -> head logits (K, N, units)."""
    h = np.broadcast_to(np.asarray(x, "float32"), (stacked[0].shape[0], *np.shape(x)))
    for i, layer in enumerate(spec.layers):
        h = ACTIVATIONS[layer.activation](h @ stacked[2 * i] + stacked[2 * i + 1][:, None, :])
    last = len(spec.layers)
    return h @ stacked[2 * last] + stacked[2 * last + 1][:, None, :]


def predict(spec: ModelSpec, stacked: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The head's predictions (for the binary head: probabilities (K, N))."""
    return spec.head.predict(logits(spec, stacked, x))


def replica(stacked: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Keras-order weights of replica k."""
    return [w[k] for w in stacked]
