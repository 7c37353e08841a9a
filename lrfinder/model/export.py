"""Replicas as a standard Keras model: one replica, or the mean of several predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lrfinder.engine.backend import keras
from lrfinder.engine.quiet import quietly
from lrfinder.model.spec import ModelSpec


def to_keras(
    spec: ModelSpec, replicas: list[list[np.ndarray]], target_scaler: dict | None = None
) -> keras.Model:
    """A Keras model of `spec` from Keras-order weights [W1, b1, ...] of one or more replicas:
    one replica's network, or the average of their outputs (a seed ensemble). With a regression
    `target_scaler` ({"mean", "scale"}), a last layer maps the output to the target's units."""
    if not replicas:
        raise ValueError("to_keras needs at least one replica.")
    inputs = keras.Input((spec.n_features,), name="features")
    outputs = []
    for k, weights in enumerate(replicas):
        prefix = "" if spec.pieces and len(replicas) == 1 else f"replica{k}_"
        h, dense_layers = inputs, []
        for layer in _layers(spec, prefix):
            h = layer(h)
            if isinstance(layer, keras.layers.Dense):
                dense_layers.append(layer)
        for i, dense in enumerate(dense_layers):
            dense.set_weights([weights[2 * i], weights[2 * i + 1]])
        outputs.append(h)
    output = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    if target_scaler is not None:
        units = keras.layers.Rescaling(
            target_scaler["scale"], target_scaler["mean"], name="to_target_units"
        )
        output = units(output)
    return keras.Model(inputs, output, name="mlp" if len(outputs) == 1 else "mlp_seed_ensemble")


def _layers(spec: ModelSpec, prefix: str) -> list:
    """The Keras layers of one replica, in order: a user's own chain (its kinds and names,
    `prefix`ed in an ensemble) when the spec came from one, else Dense layers (and Dropout after
    those that drop) named `{prefix}dense{i}`."""
    if spec.pieces:
        made, dense = [], 0
        for piece in spec.pieces:
            name = prefix + piece.name
            if piece.kind == "dense":
                units, activation = piece.value
                factor = spec.kernel_l2(dense)
                regulariser = keras.regularizers.L2(factor) if factor else None
                dense += 1
                made.append(
                    keras.layers.Dense(
                        units, activation=activation, kernel_regularizer=regulariser, name=name
                    )
                )
            elif piece.kind == "activation":
                made.append(keras.layers.Activation(piece.value, name=name))
            else:
                made.append(keras.layers.Dropout(piece.value, name=name))
        return made
    made = []
    rates = [layer.dropout for layer in spec.layers] + [0.0]
    for i, (units, activation) in enumerate(zip(spec.sizes[1:], spec.activations, strict=True)):
        made.append(keras.layers.Dense(units, activation=activation, name=f"{prefix}dense{i}"))
        if rates[i]:
            made.append(keras.layers.Dropout(rates[i], name=f"{prefix}dropout{i}"))
    return made


def save(model: keras.Model, path: Path) -> None:
    """`model.save(path)`, quietly: Keras imports TensorFlow to save where it is installed, on
    any backend, and its start-up chatter is filtered."""
    with quietly():
        model.save(path)


def load(path: Path) -> keras.Model:
    """A saved model, loaded in safe mode (quietly, as `save`)."""
    with quietly():
        return keras.saving.load_model(path, safe_mode=True)
