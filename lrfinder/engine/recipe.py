"""What every engine of a stage is built from: the network, the Keras optimizer and loss, the
batch size and the longest epoch."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from lrfinder.errors import SettingsError
from lrfinder.model.heads import BINARY, Head
from lrfinder.model.network import Network, compiled_with
from lrfinder.names import loss_name, unfit_loss
from lrfinder.params import ModelSettings

ROWS_AT_ONCE = 8192  # rows per evaluation or prediction call: K replicas' activations stay small


@dataclass(frozen=True)
class OptimizerSpec:
    """A built-in Keras optimizer by its Keras name and its arguments (`config`, JSON text so the
    spec stays hashable); arguments not given keep Keras's defaults."""

    name: str = "adam"
    config: str = "{}"

    @classmethod
    def from_keras(cls, serialized: dict, overrides: dict | None = None) -> OptimizerSpec:
        """The spec of a serialized Keras optimizer (`keras.optimizers.serialize`), with
        `overrides` over its arguments."""
        config = {**serialized["config"], **(overrides or {})}
        return cls(serialized["class_name"].lower(), json.dumps(config, sort_keys=True))

    def build(self) -> Any:
        """A fresh Keras optimizer (a rate schedule in the config is replaced by a fixed rate:
        the engine sets each replica's rate at every step)."""
        from lrfinder.engine.backend import keras

        config = json.loads(self.config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = self.default_lr
        return keras.optimizers.get({"class_name": self.name, "config": config})

    @property
    def default_lr(self) -> float:
        """The rate the optimizer runs at unless told otherwise: the config's fixed rate, else
        Keras's default for the class (the baseline a chosen rate is compared with)."""
        rate = json.loads(self.config).get("learning_rate")
        if isinstance(rate, int | float):
            return float(rate)
        from lrfinder.engine.backend import keras

        cls = type(keras.optimizers.get({"class_name": self.name, "config": {}}))
        return float(inspect.signature(cls).parameters["learning_rate"].default)

    @property
    def has_schedule(self) -> bool:
        return isinstance(json.loads(self.config).get("learning_rate"), dict)


@dataclass(frozen=True)
class Recipe:
    """`loss`: a Keras loss name, or a loss's serialized config as JSON text (from a compiled
    model file). `class_weight`: the loss weight of each class (index order), applied to
    training batches as Keras's `fit(class_weight=...)` does (as sample weights); validation
    losses are weighted alike here (Keras weighs them only when given sample weights with the
    validation data), so that the rate is selected and training stopped on the objective that
    is trained. None: every row counts 1."""

    network: Network
    optimizer: OptimizerSpec = OptimizerSpec()
    loss: str = "binary_crossentropy"
    batch_size: int = 32
    max_epoch_steps: int | None = None
    class_weight: tuple[float, ...] | None = None

    def keras_loss(self) -> Any:
        """The Keras loss: by name, or deserialized from its config."""
        from lrfinder.engine.backend import keras

        if self.loss.startswith("{"):
            return keras.losses.deserialize(json.loads(self.loss))
        return keras.losses.get(self.loss)

    def row_weights(self, y: np.ndarray) -> np.ndarray | None:
        """Each row's loss weight from its class (None without class weights)."""
        if self.class_weight is None:
            return None
        return np.asarray(self.class_weight, "float32")[np.asarray(y).astype(int)]

    def steps_per_epoch(self, n_rows: int) -> int:
        """Steps of one epoch on `n_rows` rows: a pass over them, or `max_epoch_steps` when a
        pass is longer (the next epoch then continues through the shuffled rows, as Keras's
        `fit(steps_per_epoch=...)` does on a repeated data set)."""
        full = self.steps_per_pass(n_rows)
        return full if self.max_epoch_steps is None else min(full, self.max_epoch_steps)

    def steps_per_pass(self, n_rows: int) -> int:
        """Steps of one pass over `n_rows` rows."""
        return -(-n_rows // self.batch_size)


def balanced_class_weight(y: np.ndarray, n_classes: int) -> tuple[float, ...]:
    """scikit-learn's "balanced" weights: rows / (classes x rows of the class), so that every
    class weighs as much in the loss; a class with no rows gets weight 1."""
    counts = np.bincount(np.asarray(y).astype(int), minlength=n_classes)
    weights = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 1.0)
    return tuple(float(w) for w in weights)


def recipe_of(
    model: ModelSettings, n_features: int, head: Head = BINARY, y_train: np.ndarray | None = None
) -> Recipe:
    """The network for `n_features` inputs and the task's output `head` (from the settings,
    or from `model_file`), with its Keras optimizer and loss, batch size and, with
    class_weight balanced, the class weights of the training labels `y_train`."""
    network = Network(
        n_features,
        head,
        tuple(model.hidden_layers),
        model.activation,
        model.l2,
        model.dropout,
        None if model.model_file is None else str(model.model_file),
        model.custom_module,
    )
    # The file's compiled optimizer and loss, read only when one of them is not named here.
    wanted = model.optimizer is None or model.named_loss is None
    compiled = _compiled_with(model.model_file if wanted else None, model.custom_module)
    weights = None
    if model.class_weight == "balanced" and head.name != "regression":
        if y_train is None:
            raise ValueError("class_weight balanced needs the training labels (y_train).")
        weights = balanced_class_weight(y_train, max(head.units, 2))
    return Recipe(
        network,
        _optimizer(model, compiled[0]),
        _loss(model, head, compiled[1]),
        model.batch_size,
        model.max_epoch_steps,
        weights,
    )


def _optimizer(model: ModelSettings, from_file: dict | None) -> OptimizerSpec:
    """The optimizer named in the settings, else the model file's, else adam; with the
    arguments of --optimizer-config (and --nesterov) over the file's."""
    config = json.loads(model.optimizer_config or "{}")
    if model.nesterov:
        config["nesterov"] = True
    if model.optimizer is None and from_file is not None:
        return OptimizerSpec.from_keras(from_file, config)
    return OptimizerSpec(model.optimizer or "adam", json.dumps(config, sort_keys=True))


def _loss(model: ModelSettings, head: Head, from_file: str | dict | None) -> str:
    """The loss the settings name (--loss or --regression-loss), else the model file's, else
    the task's default; a named loss must fit the task."""
    named = model.named_loss
    if named is None and from_file is not None:
        return json.dumps(from_file, sort_keys=True) if isinstance(from_file, dict) else from_file
    if named is None:
        return head.default_loss
    if problem := unfit_loss(named, head.name):
        raise SettingsError(problem)
    return loss_name(named)


@cache
def _compiled_with(model_file: Path | None, custom_module: str | None) -> tuple:
    """The optimizer and loss a model file was compiled with (None, None without a file)."""
    if model_file is None:
        return None, None
    return compiled_with(Path(model_file), custom_module)
