"""Engine replicas as a standard Keras model: one replica, or the mean of several predictions."""

from __future__ import annotations

import keras
import numpy as np

from lrfinder.engine import StackedMLP


def to_keras(model: StackedMLP, replicas: list[int] | None = None) -> keras.Model:
    """A Keras model of `replicas` (default all): one replica's MLP, or the average of their
    sigmoid outputs (a seed ensemble). Its predictions equal the engine's."""
    chosen = list(range(model.k)) if replicas is None else list(replicas)
    if not chosen:
        raise ValueError("to_keras needs at least one replica.")
    sizes = model.sizes
    inputs = keras.Input((sizes[0],), name="features")
    outputs = []
    for k in chosen:
        weights = model.replica_weights(k)
        h = inputs
        for layer, width in enumerate(sizes[1:]):
            last = layer == len(sizes) - 2
            dense = keras.layers.Dense(
                width, activation="sigmoid" if last else "relu", name=f"replica{k}_dense{layer}"
            )
            h = dense(h)
            dense.set_weights([weights[2 * layer], weights[2 * layer + 1]])
        outputs.append(h)
    output = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    return keras.Model(inputs, output, name="mlp" if len(chosen) == 1 else "mlp_seed_ensemble")


def predict_mean(model: StackedMLP, x: np.ndarray, replicas: list[int] | None = None) -> np.ndarray:
    """The engine's mean predicted probability over `replicas` (default all)."""
    probabilities = model.predict(x)
    chosen = list(range(model.k)) if replicas is None else list(replicas)
    return probabilities[chosen].mean(axis=0)
