"""A recipe's compiled Keras model and the engine's compiled functions, made once per process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from lrfinder.engine import backend
from lrfinder.engine.backend import BACKEND, keras
from lrfinder.engine.initial import built, drawer
from lrfinder.engine.loop import compiled_loop
from lrfinder.engine.recipe import Recipe
from lrfinder.engine.steps import steps_for


class Prepared:
    """A recipe's compiled Keras model and the engine's compiled functions, made once per
    process and shared by every engine of the recipe (weights and state are passed in and
    returned, so the backend traces once per shape)."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        model, initializers = built(recipe.network)
        metrics = []
        if recipe.network.head.metric:
            metric = keras.metrics.get(recipe.network.head.metric)
            metrics.append(keras.metrics.MeanMetricWrapper(metric, name="accuracy"))
        model.compile(optimizer=recipe.optimizer.build(), loss=recipe.keras_loss(), metrics=metrics)
        n = recipe.network.n_features
        sample_weight = None if recipe.class_weight is None else np.ones(2, "float32")
        batch = (np.zeros((2, n), "float32"), np.zeros(2, "float32"))
        # What `fit` does before its first step: build the loss, the metrics and the optimizer.
        model._symbolic_build(
            data_batch=batch + (() if sample_weight is None else (sample_weight,))
        )
        self.model = model
        self.groups = (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
        )
        self.lr_index = next(
            i for i, v in enumerate(model.optimizer.variables) if v.path.endswith("learning_rate")
        )
        steps = steps_for(model, self.lr_index)
        self.loop = backend.compiled(compiled_loop(steps), donate_first=True)
        self.test = backend.compiled(steps.test)
        self.predict = backend.compiled(steps.predict)
        self.draw = drawer(model, initializers)
        self._lock = threading.Lock()
        self._traced: set = set()

    def call(self, fn: Callable, *args: Any) -> Any:
        """`fn(*args)` for a compiled function of this recipe: the first call of each shape (or
        every call on TensorFlow, whose steps run through the model's variables) holds the lock,
        so threads never trace or run one model at once."""
        signature = (id(fn), *(getattr(a, "shape", None) for a in keras.tree.flatten(args)))
        if BACKEND == "jax" and signature in self._traced:
            return fn(*args)
        with self._lock:
            result = fn(*args)
            self._traced.add(signature)
            return result


@cache
def prepared(recipe: Recipe) -> Prepared:
    return Prepared(recipe)
