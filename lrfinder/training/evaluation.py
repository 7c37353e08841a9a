"""Test-set metrics of the chosen-rate and baseline models (and of a trivial predictor), with
their spread across seeds, per task: scikit-learn's metrics on plain arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from lrfinder.metric_names import SCALARS, is_better
from lrfinder.training.results import Comparison, GroupScores, Scores

NO_TWIN_FREE_ROWS = "no test row without a twin in the rows the final models learned from"


class Rows(NamedTuple):
    """True and predicted labels (indices) and probabilities, as the scalar metrics take them."""

    y: np.ndarray
    predicted: np.ndarray
    probability: np.ndarray
    labels: list[int]


def _present_average_precision(rows: Rows) -> float:
    """Macro average precision, one class against the rest, over the classes present."""
    present = np.unique(rows.y)
    indicator = (rows.y[:, None] == present[None, :]).astype(int)
    return float(average_precision_score(indicator, rows.probability[:, present], average="macro"))


# Each task's scalar metrics, one function each, in the order of their tables.
BINARY_SCALARS: dict[str, Callable[[Rows], float]] = {
    "accuracy": lambda r: float(accuracy_score(r.y, r.predicted)),
    "balanced_accuracy": lambda r: _balanced_accuracy(r.y, r.predicted),
    "precision": lambda r: float(precision_score(r.y, r.predicted, zero_division=0)),
    "recall": lambda r: float(recall_score(r.y, r.predicted, zero_division=0)),
    "f1": lambda r: float(f1_score(r.y, r.predicted, zero_division=0)),
    "mcc": lambda r: _mcc(confusion_matrix(r.y, r.predicted, labels=r.labels)),
    "roc_auc": lambda r: (
        float(roc_auc_score(r.y, r.probability)) if len(np.unique(r.y)) == 2 else float("nan")
    ),
    "average_precision": lambda r: (
        float(average_precision_score(r.y, r.probability)) if r.y.any() else float("nan")
    ),
    "log_loss": lambda r: float(log_loss(r.y, r.probability, labels=r.labels)),
}
MULTICLASS_SCALARS: dict[str, Callable[[Rows], float]] = {
    "accuracy": BINARY_SCALARS["accuracy"],
    "balanced_accuracy": BINARY_SCALARS["balanced_accuracy"],
    "macro_f1": lambda r: float(
        f1_score(r.y, r.predicted, labels=r.labels, average="macro", zero_division=0)
    ),
    "mcc": BINARY_SCALARS["mcc"],
    "average_precision": _present_average_precision,
    "log_loss": BINARY_SCALARS["log_loss"],
}
REGRESSION_SCALARS: dict[str, Callable[[Rows], float]] = {
    "rmse": lambda r: float(np.sqrt(mean_squared_error(r.y, r.predicted))),
    "mae": lambda r: float(mean_absolute_error(r.y, r.predicted)),
    "r2": lambda r: float(r2_score(r.y, r.predicted)),
}


def binary_rows(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> Rows:
    """0/1 labels against probabilities of class 1, class 1 where the probability >=
    `threshold`."""
    predicted = (np.asarray(probability, "float64") >= threshold).astype(int)
    probability = np.clip(np.asarray(probability, "float64"), 1e-7, 1 - 1e-7)
    return Rows(np.asarray(y_true).astype(int), predicted, probability, [0, 1])


def multiclass_rows(y_true: np.ndarray, probabilities: np.ndarray, n_classes: int) -> Rows:
    """Class indices against class probabilities (N, k), renormalised after clipping."""
    probabilities = np.clip(np.asarray(probabilities, "float64"), 1e-7, 1)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    labels = list(range(n_classes))
    return Rows(np.asarray(y_true).astype(int), probabilities.argmax(axis=1), probabilities, labels)


def regression_rows(y_true: np.ndarray, predicted: np.ndarray) -> Rows:
    """Numbers against predicted numbers, in the target's own units."""
    predicted = np.asarray(predicted, "float64")
    return Rows(np.asarray(y_true, "float64"), predicted, predicted, [])


def binary_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, balanced accuracy, precision, recall, F1, MCC, ROC AUC, average precision (the
    area under the precision-recall curve), log loss and the confusion matrix [[tn, fp], [fn,
    tp]] of probabilities against 0/1 labels, class 1 where the probability >= `threshold`."""
    rows = binary_rows(y_true, probability, threshold)
    return {
        **{name: metric(rows) for name, metric in BINARY_SCALARS.items()},
        "confusion_matrix": confusion_matrix(rows.y, rows.predicted, labels=rows.labels).tolist(),
        "threshold": float(threshold),
        "rows": len(rows.y),
    }


def _mcc(confusion: np.ndarray) -> float:
    """Matthews correlation coefficient of a k x k confusion matrix (rows: true class), 0 where
    it is undefined (one class among the truths or the predictions), as scikit-learn's."""
    c = np.asarray(confusion, "float64")
    total, correct = c.sum(), np.trace(c)
    true, predicted = c.sum(axis=1), c.sum(axis=0)
    denominator = np.sqrt((total**2 - predicted @ predicted) * (total**2 - true @ true))
    return float((correct * total - true @ predicted) / denominator) if denominator else 0.0


def _balanced_accuracy(y_true: np.ndarray, predicted: np.ndarray) -> float:
    """The mean recall over the classes present in `y_true` (scikit-learn's, without its
    warning when a predicted class is absent from the truth)."""
    recalls = [np.mean(predicted[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def multiclass_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> dict:
    """Accuracy, balanced accuracy, macro F1, MCC, macro average precision (one class against
    the rest, over the classes present), log loss, per-class precision and recall and the k x k
    confusion matrix (rows: true class) of class probabilities (N, k) against indices."""
    rows = multiclass_rows(y_true, probabilities, len(classes))
    precision, recall, _, support = precision_recall_fscore_support(
        rows.y, rows.predicted, labels=rows.labels, zero_division=0
    )
    return {
        **{name: metric(rows) for name, metric in MULTICLASS_SCALARS.items()},
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "rows": int(n)}
            for name, p, r, n in zip(classes, precision, recall, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(rows.y, rows.predicted, labels=rows.labels).tolist(),
        "rows": len(rows.y),
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict:
    """RMSE, MAE and R² in the target's own units."""
    rows = regression_rows(y_true, predicted)
    return {
        **{name: metric(rows) for name, metric in REGRESSION_SCALARS.items()},
        "rows": len(rows.y),
    }


def scalar_metric(
    task: str, name: str, classes: tuple[str, ...] = ("0", "1")
) -> Callable[[np.ndarray, np.ndarray], float]:
    """One scalar metric of `task` as a function of (true values, predictions), computing that
    metric alone (what a bootstrap over rows calls hundreds of times)."""
    if task == "binary":
        return lambda y, out: BINARY_SCALARS[name](binary_rows(y, out))
    if task == "multiclass":
        return lambda y, out: MULTICLASS_SCALARS[name](multiclass_rows(y, out, len(classes)))
    return lambda y, out: REGRESSION_SCALARS[name](regression_rows(y, out))


@dataclass(frozen=True)
class TaskMetrics:
    """A task's metrics: the function of (true values, predictions) and the scalar metrics its
    tables and paired differences use."""

    of: Callable[[np.ndarray, np.ndarray], dict]
    scalars: tuple[str, ...]


def task_metrics(task: str, classes: tuple[str, ...] = ("0", "1")) -> TaskMetrics:
    if task == "binary":
        return TaskMetrics(binary_metrics, SCALARS[task])
    if task == "multiclass":
        metrics_of = partial(multiclass_metrics, classes=classes)
        return TaskMetrics(metrics_of, SCALARS[task])
    if task == "regression":
        return TaskMetrics(regression_metrics, SCALARS[task])
    raise ValueError(f"unknown task {task!r}: use binary, multiclass or regression.")


def seed_summary(per_seed: list[dict], scalars: tuple[str, ...]) -> dict:
    """Mean, standard deviation, min and max of each scalar metric across seeds."""
    out = {}
    for name in scalars:
        values = np.array([m[name] for m in per_seed])
        out[name] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return out


def paired_difference(chosen: list[dict], baseline: list[dict], scalars: tuple[str, ...]) -> dict:
    """Chosen minus baseline per metric over seed pairs (same seed: same initial weights and batch
    order), its spread, and whether the mean difference is larger than that spread."""
    out = {}
    for name in scalars:
        diffs = np.array([c[name] - b[name] for c, b in zip(chosen, baseline, strict=True)])
        spread = float(diffs.std(ddof=1)) if len(diffs) > 1 else float("nan")
        out[name] = {
            "mean": float(diffs.mean()),
            "std": spread,
            "larger_than_spread": bool(abs(diffs.mean()) > spread) if len(diffs) > 1 else False,
            "chosen_better_in": f"{int(is_better(name, diffs, 0.0).sum())} of {len(diffs)} seeds",
        }
    return out


def compare(
    y_true: np.ndarray,
    chosen: np.ndarray,
    baseline: np.ndarray,
    final: str,
    metrics: TaskMetrics | None = None,
    trivial: np.ndarray | None = None,
) -> Comparison:
    """Per-seed, seed-ensemble and single-replica metrics of both groups (predictions per seed,
    first axis: seeds; the ensemble is their mean), their paired difference, which model is
    `final`, and the metrics of a `trivial` predictor's predictions when given."""
    metrics = metrics or task_metrics("binary")
    groups = {}
    for name, predictions in (("chosen", chosen), ("baseline", baseline)):
        per_seed: list[Scores] = [metrics.of(y_true, p) for p in predictions]
        ensemble = metrics.of(y_true, predictions.mean(axis=0))
        groups[name] = GroupScores(
            per_seed=per_seed,
            across_seeds=seed_summary(per_seed, metrics.scalars),
            ensemble=ensemble,
            single=per_seed[0],
            final=ensemble if final == "ensemble" else per_seed[0],
        )
    return Comparison(
        final_model=final,
        chosen=groups["chosen"],
        baseline=groups["baseline"],
        difference=paired_difference(
            groups["chosen"].per_seed, groups["baseline"].per_seed, metrics.scalars
        ),
        trivial=None if trivial is None else metrics.of(y_true, trivial),
    )
