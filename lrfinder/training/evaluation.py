"""Test-set metrics of the chosen-rate and baseline models (and of a trivial predictor), with
their spread across seeds, per task: scikit-learn's metrics on plain arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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

from lrfinder.training.metric_names import SCALARS, is_better

NO_TWIN_FREE_ROWS = "no test row without a twin in train"


def no_rows(reason: str) -> dict:
    """What stands for metrics on a subset of rows that holds none: a count of 0 and why."""
    return {"rows": 0, "reason": reason}


def binary_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, balanced accuracy, precision, recall, F1, MCC, ROC AUC, average precision (the
    area under the precision-recall curve), log loss and the confusion matrix [[tn, fp], [fn,
    tp]] of probabilities against 0/1 labels, class 1 where the probability >= `threshold`."""
    y_true = np.asarray(y_true).astype(int)
    predicted = (np.asarray(probability, "float64") >= threshold).astype(int)
    probability = np.clip(np.asarray(probability, "float64"), 1e-7, 1 - 1e-7)
    both = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "balanced_accuracy": _balanced_accuracy(y_true, predicted),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "mcc": _mcc(confusion_matrix(y_true, predicted, labels=[0, 1])),
        "roc_auc": float(roc_auc_score(y_true, probability)) if both else float("nan"),
        "average_precision": (
            float(average_precision_score(y_true, probability)) if y_true.any() else float("nan")
        ),
        "log_loss": float(log_loss(y_true, probability, labels=[0, 1])),
        "confusion_matrix": confusion_matrix(y_true, predicted, labels=[0, 1]).tolist(),
        "threshold": float(threshold),
        "rows": len(y_true),
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
    labels = list(range(len(classes)))
    y_true = np.asarray(y_true).astype(int)
    probabilities = np.clip(np.asarray(probabilities, "float64"), 1e-7, 1)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    precision, recall, _, support = precision_recall_fscore_support(
        y_true, predicted, labels=labels, zero_division=0
    )
    present = np.unique(y_true)
    indicator = (y_true[:, None] == present[None, :]).astype(int)
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "balanced_accuracy": _balanced_accuracy(y_true, predicted),
        "macro_f1": float(
            f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "mcc": _mcc(confusion_matrix(y_true, predicted, labels=labels)),
        "average_precision": float(
            average_precision_score(indicator, probabilities[:, present], average="macro")
        ),
        "log_loss": float(log_loss(y_true, probabilities, labels=labels)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "rows": int(n)}
            for name, p, r, n in zip(classes, precision, recall, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y_true, predicted, labels=labels).tolist(),
        "rows": len(y_true),
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict:
    """RMSE, MAE and R² in the target's own units."""
    y_true = np.asarray(y_true, "float64")
    predicted = np.asarray(predicted, "float64")
    return {
        "rmse": float(np.sqrt(mean_squared_error(y_true, predicted))),
        "mae": float(mean_absolute_error(y_true, predicted)),
        "r2": float(r2_score(y_true, predicted)),
        "rows": len(y_true),
    }


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
) -> dict:
    """Per-seed, seed-ensemble and single-replica metrics of both groups (predictions per seed,
    first axis: seeds; the ensemble is their mean), their paired difference, which model is
    `final`, and the metrics of a `trivial` predictor's predictions when given."""
    metrics = metrics or task_metrics("binary")
    result: dict = {"final_model": final}
    per_seed = {}
    for name, predictions in (("chosen", chosen), ("baseline", baseline)):
        per_seed[name] = [metrics.of(y_true, p) for p in predictions]
        result[name] = {
            "per_seed": per_seed[name],
            "across_seeds": seed_summary(per_seed[name], metrics.scalars),
            "ensemble": metrics.of(y_true, predictions.mean(axis=0)),
            "single": per_seed[name][0],
        }
        result[name]["final"] = result[name][final]
    result["difference"] = paired_difference(
        per_seed["chosen"], per_seed["baseline"], metrics.scalars
    )
    if trivial is not None:
        result["trivial"] = metrics.of(y_true, trivial)
    return result
