"""How uncertain a test metric is: a Wilson interval on accuracy, a percentile bootstrap over
test rows for every other metric (fast paths for ROC AUC and RMSE). Plain arrays in, plain
numbers out."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from lrfinder.metric_names import HEADLINE
from lrfinder.training.evaluation import scalar_metric

CONFIDENCE = 0.95
Z_95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 200
MIN_CLASS_ROWS = 10  # fewer rows of a class and resampling cannot show how AUC varies
WILSON = "Wilson"
BOOTSTRAP = "bootstrap"


def method(name: str) -> str:
    """How the interval of metric `name` is made."""
    return WILSON if name == "accuracy" else BOOTSTRAP


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


def resampled(
    score: Callable[[np.ndarray], float], n: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> list[float]:
    """`score(rows)` of `samples` draws of `n` row indices with replacement, the undefined
    (NaN) ones left out: the bootstrap's values."""
    rng = np.random.default_rng(seed)
    found = [score(rng.integers(0, n, n)) for _ in range(samples)]
    return [value for value in found if not math.isnan(value)]


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
    n = len(positive)

    def auc(rows: np.ndarray) -> float:
        weights = np.bincount(rows, minlength=n).astype("float64")
        return _weighted_auc(inverse, positive, weights, len(values))

    return percentile_interval(resampled(auc, n, samples, seed))


def bootstrap_rmse_interval(
    y_true: np.ndarray, predicted: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of RMSE (rows resampled with replacement); None
    with under two rows."""
    squared = (np.asarray(predicted, "float64").ravel() - np.asarray(y_true, "float64")) ** 2
    n = len(squared)
    if n < 2:
        return None
    found = resampled(
        lambda rows: math.sqrt(np.bincount(rows, minlength=n) @ squared / n), n, samples, seed
    )
    return percentile_interval(found)


def bootstrap_interval(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: np.ndarray,
    output: np.ndarray,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The 95 % percentile bootstrap interval of any `metric(y_true, output)` (rows resampled
    with replacement; a resample where it is undefined, NaN, is skipped); None with under two
    rows or when it is undefined on most resamples."""
    y_true, output = np.asarray(y_true), np.asarray(output)
    n = len(y_true)
    if n < 2:
        return None
    found = resampled(lambda rows: metric(y_true[rows], output[rows]), n, samples, seed)
    return percentile_interval(found) if len(found) > samples // 2 else None


def metric_interval(
    name: str,
    y_true: np.ndarray,
    output: np.ndarray,
    metrics: dict,
    task: str,
    classes: tuple[str, ...] = ("0", "1"),
) -> tuple[float, float] | None:
    """The 95 % interval of `task`'s test metric `name`, whose value on all rows is in
    `metrics`, of predictions `output` (probabilities, or the number)."""
    if name == "accuracy":
        rows = metrics["rows"]
        return wilson_interval(round(metrics["accuracy"] * rows), rows)
    if name == "roc_auc" and np.ndim(output) == 1:
        return bootstrap_auc_interval(y_true, output)
    if name == "rmse":
        return bootstrap_rmse_interval(y_true, output)
    return bootstrap_interval(scalar_metric(task, name, classes), y_true, output)


def final_intervals(
    metrics: dict,
    y_true: np.ndarray,
    output: np.ndarray,
    task: str,
    classes: tuple[str, ...] = ("0", "1"),
    also: Iterable[str] = (),
) -> dict:
    """95 % intervals of a model's headline test metric, of ROC AUC for binary (null with too
    few rows of a class) and of the metrics `also` names (the gate's), from its `metrics` and
    its `output` (probabilities, or the number for regression)."""
    names = [HEADLINE[task], *(["roc_auc"] if task == "binary" else []), *also]
    found = {
        name: metric_interval(name, y_true, output, metrics, task, classes)
        for name in dict.fromkeys(names)
    }
    return {name: None if pair is None else list(pair) for name, pair in found.items()}
