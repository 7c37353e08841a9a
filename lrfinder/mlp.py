"""The MLP's forward pass in NumPy, for stacked Keras-order weights: no TensorFlow needed."""

from __future__ import annotations

import numpy as np


def logits(stacked: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Stacked weights [W1 (K, F, H1), b1 (K, H1), ...] and x (N, F) -> logits (K, N)."""
    h = np.broadcast_to(np.asarray(x, "float32"), (stacked[0].shape[0], *np.shape(x)))
    n_layers = len(stacked) // 2
    for layer in range(n_layers):
        h = h @ stacked[2 * layer] + stacked[2 * layer + 1][:, None, :]
        if layer < n_layers - 1:
            h = np.maximum(h, 0.0)
    return h[..., 0]


def predict_proba(stacked: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Sigmoid probabilities (K, N)."""
    return 1.0 / (1.0 + np.exp(-logits(stacked, x)))


def replica(stacked: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Keras-order weights of replica k."""
    return [w[k] for w in stacked]
