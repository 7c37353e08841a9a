"""Replicas as a standard Keras model: one replica, or the mean of several predictions."""

from __future__ import annotations

import keras
import numpy as np


def to_keras(replicas: list[list[np.ndarray]]) -> keras.Model:
    """A Keras model from Keras-order weights [W1, b1, ...] of one or more replicas: one
    replica's MLP, or the average of their sigmoid outputs (a seed ensemble)."""
    if not replicas:
        raise ValueError("to_keras needs at least one replica.")
    n_features = replicas[0][0].shape[0]
    inputs = keras.Input((n_features,), name="features")
    outputs = []
    for k, weights in enumerate(replicas):
        h = inputs
        n_layers = len(weights) // 2
        for layer in range(n_layers):
            last = layer == n_layers - 1
            dense = keras.layers.Dense(
                weights[2 * layer].shape[1],
                activation="sigmoid" if last else "relu",
                name=f"replica{k}_dense{layer}",
            )
            h = dense(h)
            dense.set_weights([weights[2 * layer], weights[2 * layer + 1]])
        outputs.append(h)
    output = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    return keras.Model(inputs, output, name="mlp" if len(outputs) == 1 else "mlp_seed_ensemble")
