"""What every engine of a stage is built from: the network, the Keras optimizer and loss, the
batch size and the longest epoch."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrfinder.model.network import Network

ROWS_AT_ONCE = 8192  # rows per evaluation or prediction call: K replicas' activations stay small

# Every built-in Keras optimizer, by the name `keras.optimizers.get` takes (a test checks the list
# against Keras's own, so settings can name them without importing Keras).
OPTIMIZERS = (
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "ftrl",
    "lion",
    "muon",
    "nadam",
    "rmsprop",
    "schedulefreeadamw",
    "sgd",
)


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
