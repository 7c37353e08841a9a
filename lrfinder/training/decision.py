"""The decision threshold of a binary model, tuned on validation predictions: the probability
above which a row is called class 1, where F1 or balanced accuracy is highest."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_THRESHOLD = 0.5


def _f1(tp: np.ndarray, fp: np.ndarray, positives: int, negatives: int) -> np.ndarray:
    """F1 per cut from its true and false positive counts."""
    fn = positives - tp
    return np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(len(tp)), where=(2 * tp + fp + fn) > 0)


def _balanced_accuracy_of_counts(
    tp: np.ndarray, fp: np.ndarray, positives: int, negatives: int
) -> np.ndarray:
    """Balanced accuracy per cut from its true and false positive counts."""
    return (tp / positives + (negatives - fp) / negatives) / 2


OBJECTIVES: dict[str, Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]] = {
    "f1": _f1,
    "balanced_accuracy": _balanced_accuracy_of_counts,
}


def tune_threshold(y_true: np.ndarray, probability: np.ndarray, objective: str) -> float:
    """The threshold (class 1 where probability >= it) that maximises `objective` on these rows:
    halfway between two neighbouring distinct probabilities; among equal scores the one
    nearest 0.5. DEFAULT_THRESHOLD when the rows lack a class."""
    y = np.asarray(y_true).astype(int) == 1
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return DEFAULT_THRESHOLD
    p = np.asarray(probability, "float64")
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    # Cut after the last row of each run of equal probabilities: rows above are called 1.
    last = np.flatnonzero(np.append(p[1:] != p[:-1], True))
    tp = np.cumsum(y)[last].astype("float64")
    fp = (last + 1 - tp).astype("float64")
    scores = OBJECTIVES[objective](tp, fp, positives, negatives)
    below = np.append(p[last[:-1] + 1], 0.0)
    thresholds = (p[last] + below) / 2
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - DEFAULT_THRESHOLD))]])
