"""The network every replica trains, as a Keras model: the default MLP built from the settings, or
the user's saved model (`--model path.keras`, any architecture whose input is the feature matrix
and whose output fits the task). The engine takes its layers, initializers and losses as Keras
defines them; the saved final model is this model (or the average of K copies of it)."""

from __future__ import annotations

import importlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrfinder.errors import SettingsError
from lrfinder.model.heads import BINARY, Head
from lrfinder.params import ModelSettings, invalid_settings

# The names the saved final model gives its own layers.
RESERVED = ("features", "mean", "to_target_units")


@dataclass(frozen=True)
class Network:
    """The default MLP (`hidden_layers` Dense layers of `activation`, an L2 factor on every
    kernel, Dropout after every hidden layer) for `n_features` inputs and the task's `head`;
    with `model_file`, the user's saved model; with `keras_config`, a model in memory as its
    Keras serialization (JSON text; `custom_objects`: its classes that Keras does not know by
    name). `custom_module` is imported first: it registers the file's custom layers for
    serialization."""

    n_features: int
    head: Head = BINARY
    hidden_layers: tuple[int, ...] = (128, 256, 256)
    activation: str = "relu"
    l2: float = 0.0
    dropout: float = 0.0
    model_file: str | None = None
    custom_module: str | None = None
    keras_config: str | None = None
    custom_objects: tuple[type, ...] = ()

    @property
    def is_default(self) -> bool:
        """True for the default MLP, built from the settings."""
        return self.model_file is None and self.keras_config is None

    @classmethod
    def from_keras(cls, model: Any, head: Head) -> Network:
        """The network of a Keras model in memory (its architecture only: the engine draws each
        replica's weights from the model's initializers)."""
        from lrfinder.engine.backend import keras

        try:
            serialized = keras.saving.serialize_keras_object(model)
            serialized.pop("compile_config", None)  # the recipe names the optimizer and loss
            config = json.dumps(serialized, sort_keys=True)
        except Exception as exc:
            raise SettingsError(
                f"model {model.name!r}: Keras cannot serialize it ({type(exc).__name__}: "
                f"{str(exc)[:200]}). Fix: give its custom layers a get_config() (see Keras's "
                "guide to serialization)."
            ) from None
        found = {type(model), *(type(layer) for layer in model._flatten_layers())}
        custom = tuple(
            sorted(
                (c for c in found if not c.__module__.startswith("keras")),
                key=lambda c: (c.__module__, c.__qualname__),
            )
        )
        network = cls(model.inputs[0].shape[-1], head, keras_config=config, custom_objects=custom)
        try:
            network.build()
        except Exception as exc:
            raise SettingsError(
                f"model {model.name!r}: cannot be rebuilt from its config ({type(exc).__name__}: "
                f"{str(exc)[:200]}). Fix: register its custom functions and objects with "
                "@keras.saving.register_keras_serializable."
            ) from None
        return network

    def build(self) -> Any:
        """A fresh, uncompiled Keras model of this network."""
        from lrfinder.engine.backend import keras

        if self.model_file is not None:
            return checked_model(
                Path(self.model_file), self.n_features, self.head, self.custom_module
            )
        if self.keras_config is not None:
            objects = {c.__name__: c for c in self.custom_objects}
            return keras.saving.deserialize_keras_object(
                json.loads(self.keras_config), custom_objects=objects, safe_mode=False
            )
        regularizer = keras.regularizers.L2(self.l2) if self.l2 else None
        layers: list[Any] = [keras.Input((self.n_features,), name="features")]
        for i, width in enumerate(self.hidden_layers):
            layers.append(
                keras.layers.Dense(
                    width, self.activation, kernel_regularizer=regularizer, name=f"dense{i}"
                )
            )
            if self.dropout:
                layers.append(keras.layers.Dropout(self.dropout, name=f"dropout{i}"))
        last = len(self.hidden_layers)
        layers.append(
            keras.layers.Dense(
                self.head.units,
                self.head.activation,
                kernel_regularizer=regularizer,
                name=f"dense{last}",
            )
        )
        return keras.Sequential(layers, name="mlp")


def import_custom_module(name: str | None) -> None:
    """Import the module that registers a model file's custom layers (nothing when None)."""
    if name is None:
        return
    try:
        importlib.import_module(name)
    except ImportError as exc:
        raise SettingsError(
            f"--custom-module {name}: cannot import it ({exc}). Fix: give an importable module "
            "name (on the Python path of the run and of any cluster worker)."
        ) from None


def load(path: Path, custom_module: str | None = None, compile: bool = False) -> Any:
    """A saved model, loaded in safe mode (quietly: Keras imports TensorFlow to load)."""
    from lrfinder.engine.backend import keras
    from lrfinder.engine.quiet import quietly

    import_custom_module(custom_module)
    with quietly():
        return keras.saving.load_model(path, safe_mode=True, compile=compile)


def save(model: Any, path: Path) -> None:
    """`model.save(path)`, quietly (see `load`)."""
    from lrfinder.engine.quiet import quietly

    with quietly():
        model.save(path)


def checked_model(path: Path, n_features: int, head: Head, custom_module: str | None = None) -> Any:
    """The user's model from `path`, checked to take the feature matrix and to give the task's
    output; every problem stops with the file, what is wrong and the fix."""
    try:
        model = load(path, custom_module)
    except SettingsError:
        raise
    except Exception as exc:
        raise SettingsError(load_problem(path, exc)) from None
    if problem := model_problem(model, n_features, head, f"--model {path}"):
        raise SettingsError(problem)
    return model


def model_problem(model: Any, n_features: int, head: Head, source: str) -> str | None:
    """Why the engine cannot train `model` (named `source` in the message) on `n_features`
    inputs for the task's `head`, and the fix; None when it can."""
    inputs = getattr(model, "inputs", None) or []
    outputs = getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 2:
        return (
            f"{source}: needs one input of shape (features,) and one output; it has "
            f"{len(inputs)} input(s) {[tuple(i.shape) for i in inputs]} and {len(outputs)} "
            "output(s). Fix: build the model on keras.Input((n_features,))."
        )
    if inputs[0].shape[-1] != n_features:
        return (
            f"{source}: takes {inputs[0].shape[-1]} inputs, but the data has {n_features} "
            "features. Fix: build the model for this data's features."
        )
    if tuple(outputs[0].shape[1:]) != (head.units,):
        return (
            f"{source}: its output has shape {tuple(outputs[0].shape[1:])}, but the "
            f"{head.name} task needs ({head.units},) ({head.activation} for the default loss). "
            "Fix the last layer."
        )
    taken = [layer.name for layer in model.layers if layer.name in RESERVED]
    if taken:
        return (
            f"{source}: the layer name {taken[0]!r} is taken by the saved final model. Fix: "
            "rename the layer."
        )
    if not model.trainable_variables:
        return f"{source}: has no trainable weights. Fix: unfreeze its layers."
    return None


def load_problem(path: Path, error: Exception) -> str:
    """Why a model file does not load, and the fix."""
    unknown = re.search(r"Could not locate class '([^']+)'", str(error))
    if unknown:
        return (
            f"--model {path}: uses the custom class {unknown[1]!r}, which is not registered. Fix: "
            "name the module that registers it (@keras.saving.register_keras_serializable) with "
            "--custom-module."
        )
    first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    return (
        f"--model {path}: cannot load it as a Keras model in safe mode ({first}). Fix: save it "
        "with model.save('name.keras') from Keras 3."
    )


def check_model_file(model: ModelSettings) -> None:
    """Raise SettingsError when the engine cannot train `--model`'s file (loaded here; the
    settings check that it exists)."""
    if model.model_file is None:
        return
    try:
        load(Path(model.model_file), model.custom_module)
    except SettingsError as error:
        raise SettingsError(invalid_settings([str(error)])) from None
    except Exception as error:
        problem = load_problem(Path(model.model_file), error)
        raise SettingsError(invalid_settings([problem])) from None


def compiled_with(path: Path, custom_module: str | None = None) -> tuple[dict | None, Any]:
    """The optimizer and the loss that the file was compiled with (see `compiled_parts`)."""
    with warnings.catch_warnings():
        # Only the optimizer's configuration is read, not its saved state.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = load(path, custom_module, compile=True)
    return compiled_parts(model)


def compiled_parts(model: Any) -> tuple[dict | None, Any]:
    """The optimizer (serialized, None when not compiled) and the loss (its config or name, None
    when not compiled) that `model` was compiled with."""
    from lrfinder.engine.backend import keras

    optimizer = getattr(model, "optimizer", None)
    loss = getattr(model, "loss", None)
    serialized = None if optimizer is None else keras.optimizers.serialize(optimizer)
    if loss is not None and not isinstance(loss, str):
        loss = keras.losses.serialize(loss)
    return serialized, loss


def to_keras(network: Network, replicas: list[list[Any]], target_scaler: dict | None = None) -> Any:
    """The final model as one Keras model: the network with one replica's variables (trainable,
    then non-trainable, as `model.trainable_variables + model.non_trainable_variables`), or the
    average of K copies of it (a seed ensemble). With a regression `target_scaler` ({"mean",
    "scale"}) a last layer maps the output to the target's units."""
    from lrfinder.engine.backend import keras

    if not replicas:
        raise ValueError("to_keras needs at least one replica.")
    copies = []
    for k, values in enumerate(replicas):
        model = network.build()
        if len(replicas) > 1:
            model.name = f"replica{k}"
        variables = model.trainable_variables + model.non_trainable_variables
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        copies.append(model)
    if len(copies) == 1 and target_scaler is None:
        return copies[0]
    inputs = keras.Input((network.n_features,), name="features")
    outputs = [model(inputs) for model in copies]
    output = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    if target_scaler is not None:
        output = keras.layers.Rescaling(
            target_scaler["scale"], target_scaler["mean"], name="to_target_units"
        )(output)
    name = copies[0].name if len(copies) == 1 else "seed_ensemble"
    return keras.Model(inputs, output, name=name)
