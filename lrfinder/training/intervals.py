"""How uncertain a test metric is: a Wilson interval on accuracy, bootstrap intervals on ROC
AUC and RMSE. Plain arrays in, plain numbers out."""

from __future__ import annotations

import math

import numpy as np

CONFIDENCE = 0.95
Z_95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 200
MIN_CLASS_ROWS = 10  # fewer rows of a class and resampling cannot show how AUC varies
METHODS = {"accuracy": "Wilson", "roc_auc": "bootstrap", "rmse": "bootstrap"}


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a binomial proportion (sound for few trials and for
    proportions near 0 or 1)."""
    if trials == 0:
        return (float("nan"), float("nan"))
    p = successes / trials
    z2 = Z_95**2
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z_95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials**2)) / (1 + z2 / trials)
    return (max(centre - half, 0.0), min(centre + half, 1.0))


def _weighted_auc(
    inverse: np.ndarray, positive: np.ndarray, weights: np.ndarray, groups: int
) -> float:
    """ROC AUC of rows with `weights` (bootstrap counts), ties counted half; `inverse` maps each
    row to its score's rank among the distinct scores."""
    pos = np.bincount(inverse, weights=weights * positive, minlength=groups)
    neg = np.bincount(inverse, weights=weights * ~positive, minlength=groups)
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos == 0 or total_neg == 0:
        return float("nan")
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))


def percentile_interval(values: list[float]) -> tuple[float, float]:
    """The central CONFIDENCE share of bootstrap `values`: their percentile interval."""
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return (float(low), float(high))


def bootstrap_auc_interval(
    y_true: np.ndarray, score: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of ROC AUC (rows resampled with replacement; a
    resample without both classes is skipped); None when a class has under MIN_CLASS_ROWS rows
    (four rows ranked right resample to rankings that are all right: no honest interval)."""
    positive = np.asarray(y_true).astype(int) == 1
    if min(positive.sum(), (~positive).sum()) < MIN_CLASS_ROWS:
        return None
    values, inverse = np.unique(np.asarray(score, "float64"), return_inverse=True)
    rng = np.random.default_rng(seed)
    n = len(positive)
    found = []
    for _ in range(samples):
        weights = np.bincount(rng.integers(0, n, n), minlength=n).astype("float64")
        auc = _weighted_auc(inverse, positive, weights, len(values))
        if not math.isnan(auc):
            found.append(auc)
    return percentile_interval(found)


def bootstrap_rmse_interval(
    y_true: np.ndarray, predicted: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of RMSE (rows resampled with replacement); None
    with under two rows."""
    squared = (np.asarray(predicted, "float64").ravel() - np.asarray(y_true, "float64")) ** 2
    n = len(squared)
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    found = [
        math.sqrt(np.bincount(rng.integers(0, n, n), minlength=n) @ squared / n)
        for _ in range(samples)
    ]
    return percentile_interval(found)


def final_intervals(metrics: dict, y_true: np.ndarray, output: np.ndarray, task: str) -> dict:
    """95 % intervals of a final model's headline test metric (accuracy: Wilson; RMSE:
    bootstrap) and, for binary, ROC AUC (bootstrap; null with too few rows of a class), from its
    `metrics` and its `output` (probabilities, or the number for regression)."""
    if task == "regression":
        found = {"rmse": bootstrap_rmse_interval(y_true, output)}
    else:
        rows = metrics["rows"]
        found = {"accuracy": wilson_interval(round(metrics["accuracy"] * rows), rows)}
    if task == "binary":
        found["roc_auc"] = bootstrap_auc_interval(y_true, output)
    return {name: None if pair is None else list(pair) for name, pair in found.items()}
