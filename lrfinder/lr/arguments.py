"""`find_lr`'s arguments checked at the boundary, and the recipe made from a Keras model: each
problem stops with the argument's name, what is wrong and the fix, as Keras's own errors do."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from lrfinder.engine.recipe import OptimizerSpec, Recipe, balanced_class_weight
from lrfinder.model.heads import Head, head_for
from lrfinder.model.network import Network, compiled_parts, model_problem
from lrfinder.names import LOSSES, OPTIMIZERS, TASKS, loss_name, unfit_loss

ClassWeight = dict[int, float] | str | tuple[float, ...] | None


def matrix(x: Any, name: str) -> np.ndarray:
    """`x` (NumPy array or pandas frame) as a float32 matrix of rows by features, all finite."""
    try:
        values = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x, dtype="float32")
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name}: cannot be read as numbers ({exc}). Fix: encode text columns as numbers "
            "before calling find_lr (it does no encoding)."
        ) from None
    if values.ndim != 2:
        raise ValueError(
            f"{name}: expected a matrix of rows by features, got shape {values.shape}. Fix: "
            "reshape it to (rows, features), e.g. x.reshape(len(x), -1)."
        )
    if len(values) == 0:
        raise ValueError(f"{name}: has no rows. Fix: give at least one row of features.")
    _finite(values, name, getattr(x, "columns", None))
    return values


def labels(y: Any, name: str, rows: int, x_name: str) -> np.ndarray:
    """`y` as one value per row (float32), as many rows as `x_name`, all finite."""
    try:
        values = np.asarray(y.to_numpy(dtype="float64") if hasattr(y, "to_numpy") else y)
    except (TypeError, ValueError):
        values = np.asarray(y, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            f"{name}: expected one value per row, got shape {values.shape}. Fix: for classes "
            f"give class indices (for one-hot rows: {name}.argmax(axis=1))."
        )
    try:
        values = values.astype("float32")
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: its values are not numbers. Fix: encode the labels as class indices "
            "0, 1, ... (e.g. with sklearn.preprocessing.LabelEncoder), and drop missing ones."
        ) from None
    if len(values) != rows:
        raise ValueError(
            f"{name} has {len(values)} rows but {x_name} has {rows}. Fix: give one label per "
            "row of the features."
        )
    _finite(values[:, None], name, None)
    return values


def _finite(values: np.ndarray, name: str, columns: Any) -> None:
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, col = bad[0]
        where = f"column {columns[col]!r}" if columns is not None else f"column {col}"
        raise ValueError(
            f"{name}: {len(bad)} value(s) are NaN or infinite, the first at row {row}, {where}. "
            "Fix: drop or impute them before calling find_lr."
        )


def keras_model(model: Any) -> Any:
    """`model`, checked to be a Keras model."""
    from lrfinder.engine.backend import keras

    if not isinstance(model, keras.Model):
        raise TypeError(
            f"model: expected a Keras model (keras.Model or keras.Sequential), got "
            f"{type(model).__module__}.{type(model).__name__}. Fix: pass a Keras 3 model built "
            "on keras.Input((n_features,))."
        )
    return model


def task_head(model: Any, y: np.ndarray, loss: str | None, task: str | None) -> Head:
    """The output head of `model` on labels `y`: the `task` given, else multiclass for several
    outputs, binary for one output and 0/1 labels (unless `loss` names a loss only regression
    takes, such as huber), else regression."""
    outputs = getattr(model, "outputs", None) or []
    units = int(outputs[0].shape[-1]) if len(outputs) == 1 and outputs[0].shape[-1] else 1
    if task is not None:
        if task not in TASKS:
            raise ValueError(f"task: {task!r} is not a task. Fix: use one of {', '.join(TASKS)}.")
        if task == "multiclass" and units < 2:
            raise ValueError(
                "task: multiclass needs one output per class, and the model has 1. Fix: end the "
                "model with Dense(n_classes, activation='softmax')."
            )
        head = head_for(task, units)
    elif units > 1:
        head = head_for("multiclass", units)
    else:
        binary_labels = bool(np.isin(y, (0.0, 1.0)).all())
        regression_only = loss is not None and loss_name(loss) not in LOSSES["binary"]
        head = head_for("binary" if binary_labels and not regression_only else "regression")
    check_classes(y, head, "y")
    return head


def check_classes(y: np.ndarray, head: Head, name: str) -> None:
    """Labels `y` (argument `name`) are class indices of the task's head (any number for
    regression)."""
    if head.name == "regression":
        return
    classes = max(head.units, 2)
    wrong = (y != np.round(y)) | (y < 0) | (y >= classes)
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise ValueError(
            f"{name}: row {row} has {y[row]:g}, not a class index of the {head.name} task "
            f"(0 to {classes - 1}). Fix: give class indices, or task='regression'."
        )


def recipe_for(
    model: Any,
    n_features: int,
    y: np.ndarray,
    *,
    optimizer: Any,
    loss: Any,
    batch_size: int,
    max_epoch_steps: int | None,
    task: str | None,
    class_weight: ClassWeight,
) -> Recipe:
    """The recipe that trains `model` (checked to take `n_features` inputs and to give the
    task's output): the optimizer and loss given, else the model's compiled ones, else adam and
    the task's default loss."""
    model = keras_model(model)
    compiled_optimizer, compiled_loss = compiled_parts(model)
    chosen_loss = loss if loss is not None else compiled_loss
    head = task_head(model, y, chosen_loss if isinstance(chosen_loss, str) else None, task)
    if problem := model_problem(model, n_features, head, "model"):
        raise ValueError(problem)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: {batch_size!r} is not a positive whole number.")
    return Recipe(
        Network.from_keras(model, head),
        optimizer_spec(optimizer, compiled_optimizer),
        loss_text(chosen_loss, head, "loss" if loss is not None else "the model's compiled loss"),
        batch_size,
        max_epoch_steps,
        class_weights(class_weight, y, head),
    )


def optimizer_spec(optimizer: Any, compiled: dict | None) -> OptimizerSpec:
    """The optimizer given (a Keras name, a Keras optimizer or a spec), else the compiled one,
    else adam; a built-in Keras optimizer."""
    from lrfinder.engine.backend import keras

    if isinstance(optimizer, OptimizerSpec):
        spec = optimizer
    elif isinstance(optimizer, str):
        spec = OptimizerSpec(optimizer.lower())
    elif isinstance(optimizer, keras.optimizers.Optimizer):
        spec = OptimizerSpec.from_keras(keras.optimizers.serialize(optimizer))
    elif optimizer is None:
        spec = OptimizerSpec() if compiled is None else OptimizerSpec.from_keras(compiled)
    else:
        raise TypeError(
            f"optimizer: expected a Keras optimizer or its name, got {type(optimizer).__name__}."
        )
    if spec.name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer: {spec.name!r} is not a built-in Keras optimizer. Fix: use one of "
            f"{', '.join(OPTIMIZERS)}."
        )
    return spec


def loss_text(loss: Any, head: Head, source: str) -> str:
    """The recipe's loss (given as `source`): a Keras name that fits the task, or a Keras loss's
    config as JSON."""
    from lrfinder.engine.backend import keras

    if loss is None:
        return head.default_loss
    if isinstance(loss, str):
        if problem := unfit_loss(loss, head.name, source):
            raise ValueError(f"{problem} Or pass task=... if the task was inferred wrongly.")
        return loss_name(loss)
    if isinstance(loss, keras.losses.Loss):
        loss = keras.losses.serialize(loss)
    if isinstance(loss, dict):
        return json.dumps(loss, sort_keys=True)
    raise TypeError(
        f"loss: expected a Keras loss or its name, got {type(loss).__name__}. Fix: pass a "
        "keras.losses.Loss instance or a name such as 'binary_crossentropy'."
    )


def class_weights(given: ClassWeight, y: np.ndarray, head: Head) -> tuple[float, ...] | None:
    """Each class's loss weight (index order) from a dict as `fit` takes it, "balanced", or a
    tuple; None for none."""
    if given is None or given == "none":
        return None
    if head.name == "regression":
        raise ValueError("class_weight: a regression task has no classes. Fix: drop it.")
    classes = max(head.units, 2)
    if given == "balanced":
        return balanced_class_weight(y, classes)
    if isinstance(given, dict):
        weights = {int(k): float(v) for k, v in given.items()}
        unknown = [k for k in weights if not 0 <= k < classes]
        if unknown:
            raise ValueError(
                f"class_weight: class {unknown[0]} is not a class of the {head.name} task. Fix: "
                f"use class indices 0 to {classes - 1}."
            )
        return tuple(weights.get(k, 1.0) for k in range(classes))
    if isinstance(given, tuple) and len(given) == classes:
        return tuple(float(w) for w in given)
    raise ValueError(
        f"class_weight: expected a dict of class -> weight, 'balanced' or None, got {given!r}."
    )


def seed_list(seeds: int | list[int]) -> list[int]:
    """The replica seeds: 0..seeds-1 for a count, else the seeds given."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds: {seeds} replicas is too few. Fix: give at least 1.")
        return list(range(seeds))
    listed = list(seeds)
    if not listed or not all(isinstance(s, int) and s >= 0 for s in listed):
        raise ValueError(
            f"seeds: expected a count or a list of seeds (whole numbers >= 0), got {seeds!r}."
        )
    return listed
