"""The network's forward pass in NumPy for stacked Keras-order weights: no TensorFlow needed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lrfinder.model.spec import ACTIVATIONS, ModelSpec

ROWS_AT_ONCE = 8192  # rows per pass: the hidden activations of K replicas stay small


def by_rows(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """`forward` (x (n, F) -> (K, n, units)) over x ROWS_AT_ONCE rows at a time, joined."""
    parts = [
        forward(x[start : start + ROWS_AT_ONCE]) for start in range(0, max(len(x), 1), ROWS_AT_ONCE)
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def logits(spec: ModelSpec, stacked: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Stacked weights [W1 (K, F, H1), b1 (K, H1), ...] and x (N, F) -> head logits (K, N, units),
    computed ROWS_AT_ONCE rows at a time."""
    return by_rows(lambda rows: _logits(spec, stacked, rows), x)


def _logits(spec: ModelSpec, stacked: list[np.ndarray], x: np.ndarray) -> np.ndarray:
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
