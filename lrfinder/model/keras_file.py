"""A user's saved Keras model as a model specification: its chain of layers read, checked
against what the engine trains, and kept (kinds, names) so that the final model is saved with
the same structure and names. Only the architecture is taken: the finder trains fresh seeded
initialisations of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrfinder.errors import SettingsError
from lrfinder.model.heads import Head
from lrfinder.model.spec import ACTIVATIONS, Layer, ModelSpec

SUPPORTED = (
    "Input, Dense (an activation of "
    + ", ".join(sorted(ACTIVATIONS))
    + " or linear, with a bias, an optional L2 kernel regulariser), Activation, Dropout"
)


# Names the exported model gives its own layers.
RESERVED = ("features", "mean", "to_target_units")


@dataclass(frozen=True)
class Piece:
    """One layer of the user's chain: `dense` (units, activation), `activation` (name) or
    `dropout` (rate), with its name."""

    kind: str
    name: str
    value: Any


@dataclass(frozen=True)
class KerasStructure:
    """What a saved model's chain says: input width, its pieces in order, the L2 factor of
    each Dense layer (empty for none)."""

    n_inputs: int
    pieces: tuple[Piece, ...]
    l2: tuple[float, ...]


def read_structure(path: Path) -> KerasStructure:
    """Load `path` in safe mode and read its layers; anything the engine cannot train stops
    with the layer's name, position and what is supported."""
    from lrfinder.engine.backend import keras
    from lrfinder.model.export import load

    try:
        model = load(path)
        inputs, outputs = model.inputs, model.outputs
    except Exception as exc:
        raise SettingsError(
            f"--model {path}: cannot load it as a Keras model in safe mode ({exc}). Fix: save "
            "it with model.save('name.keras') from Keras 3, without custom objects."
        ) from None
    if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 2:
        raise SettingsError(
            f"--model {path}: needs one input of shape (features,) and one output (a chain of "
            "layers)."
        )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    pieces, l2 = [], []
    previous = None
    for position, layer in enumerate(layers, start=1):
        where = f"--model {path}: layer {position} {layer.name!r} ({type(layer).__name__})"
        if layer.name in RESERVED:
            raise SettingsError(
                f"{where}: the name {layer.name!r} is taken by the saved final model. Fix: "
                "rename the layer."
            )
        chained = isinstance(model, keras.Sequential) or previous is None
        if not chained and layer.input is not previous.output:
            raise SettingsError(
                f"{where} does not follow the layer before it: only a chain of layers is supported."
            )
        previous = layer
        if isinstance(layer, keras.layers.Dense):
            regulariser = layer.kernel_regularizer
            if regulariser is not None and not isinstance(regulariser, keras.regularizers.L2):
                raise SettingsError(
                    f"{where}: only an L2 kernel regulariser is supported. Supported: {SUPPORTED}."
                )
            if not layer.use_bias or layer.bias_regularizer or layer.activity_regularizer:
                raise SettingsError(
                    f"{where}: needs a bias and no bias or activity regulariser. Supported: {SUPPORTED}."
                )
            l2.append(float(regulariser.l2) if regulariser is not None else 0.0)
            activation = keras.activations.serialize(layer.activation)
            pieces.append(Piece("dense", layer.name, (int(layer.units), activation)))
        elif isinstance(layer, keras.layers.Activation):
            pieces.append(
                Piece("activation", layer.name, keras.activations.serialize(layer.activation))
            )
        elif isinstance(layer, keras.layers.Dropout):
            pieces.append(Piece("dropout", layer.name, float(layer.rate)))
        else:
            raise SettingsError(f"{where} is not supported. Supported: {SUPPORTED}.")
    n_inputs = int(model.inputs[0].shape[-1])
    return KerasStructure(n_inputs, tuple(pieces), tuple(l2) if any(l2) else ())


def spec_from_structure(
    structure: KerasStructure, n_features: int, head: Head, path: Path
) -> ModelSpec:
    """The model specification of the user's chain for this data and task: Dense layers with
    the activation after them (their own, or an Activation layer's) and the Dropout after them;
    the last Dense is the output, which must match the task's head."""
    if structure.n_inputs != n_features:
        raise SettingsError(
            f"--model {path}: takes {structure.n_inputs} inputs, but the data has {n_features} "
            "features. Fix: build the model for this data's features (data_report.json lists them)."
        )
    groups: list[dict] = []
    for piece in structure.pieces:
        if piece.kind == "dense":
            units, activation = piece.value
            groups.append({"units": units, "activation": activation, "dropout": 0.0})
        elif not groups:
            raise SettingsError(
                f"--model {path}: layer {piece.name!r} comes before any Dense layer."
            )
        elif piece.kind == "activation":
            if groups[-1]["activation"] != "linear" or groups[-1]["dropout"]:
                raise SettingsError(
                    f"--model {path}: Activation {piece.name!r} must directly follow a Dense "
                    "layer without an activation of its own (and come before its Dropout)."
                )
            groups[-1]["activation"] = piece.value
        elif groups[-1]["dropout"]:
            raise SettingsError(
                f"--model {path}: Dropout {piece.name!r} follows another Dropout; use one "
                "Dropout per Dense layer."
            )
        else:
            groups[-1]["dropout"] = piece.value
    if len(groups) < 2:
        raise SettingsError(
            f"--model {path}: needs at least one hidden Dense layer before the output layer."
        )
    *hidden, output = groups
    if (
        output["units"] != head.units
        or output["activation"] != head.activation
        or output["dropout"]
    ):
        raise SettingsError(
            f"--model {path}: its output layer has {output['units']} unit(s) with activation "
            f"{output['activation']!r}, but the {head.name} task needs {head.units} with "
            f"{head.activation!r} (and no Dropout after it). Fix the last layer."
        )
    for group in hidden:
        if group["activation"] not in ACTIVATIONS:
            raise SettingsError(
                f"--model {path}: hidden activation {group['activation']!r} is not supported; "
                f"use one of {sorted(ACTIVATIONS)}."
            )
    layers = tuple(Layer(g["units"], g["activation"], g["dropout"]) for g in hidden)
    return ModelSpec(n_features, layers, head, structure.l2, structure.pieces)
