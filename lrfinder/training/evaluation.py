"""Test-set metrics for the chosen-rate and baseline models, with their spread across seeds."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

SCALARS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
HIGHER_IS_BETTER = {name: name != "log_loss" for name in SCALARS}


def binary_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1, ROC AUC, log loss and the confusion matrix
    [[tn, fp], [fn, tp]] of probabilities against 0/1 labels."""
    y_true = np.asarray(y_true).astype(int)
    probability = np.clip(np.asarray(probability, "float64"), 1e-7, 1 - 1e-7)
    predicted = (probability >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, probability)) if both else float("nan"),
        "log_loss": float(log_loss(y_true, probability, labels=[0, 1])),
        "confusion_matrix": confusion_matrix(y_true, predicted, labels=[0, 1]).tolist(),
        "rows": len(y_true),
    }


def seed_summary(per_seed: list[dict]) -> dict:
    """Mean, standard deviation, min and max of each scalar metric across seeds."""
    out = {}
    for name in SCALARS:
        values = np.array([m[name] for m in per_seed])
        out[name] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return out


def paired_difference(chosen: list[dict], baseline: list[dict]) -> dict:
    """Chosen minus baseline per metric over seed pairs (same seed: same initial weights and batch
    order), its spread, and whether the mean difference is larger than that spread."""
    out = {}
    for name in SCALARS:
        diffs = np.array([c[name] - b[name] for c, b in zip(chosen, baseline, strict=True)])
        spread = float(diffs.std(ddof=1)) if len(diffs) > 1 else float("nan")
        better = diffs > 0 if HIGHER_IS_BETTER[name] else diffs < 0
        out[name] = {
            "mean": float(diffs.mean()),
            "std": spread,
            "larger_than_spread": bool(abs(diffs.mean()) > spread) if len(diffs) > 1 else False,
            "chosen_better_in": f"{int(better.sum())} of {len(diffs)} seeds",
        }
    return out


def compare(y_true: np.ndarray, chosen: np.ndarray, baseline: np.ndarray, final: str) -> dict:
    """Per-seed, seed-ensemble and single-replica metrics of both groups ((seeds, N)
    probabilities each), their paired difference, and which model is `final`."""
    result = {"final_model": final}
    per_seed = {}
    for name, probabilities in (("chosen", chosen), ("baseline", baseline)):
        per_seed[name] = [binary_metrics(y_true, p) for p in probabilities]
        result[name] = {
            "per_seed": per_seed[name],
            "across_seeds": seed_summary(per_seed[name]),
            "ensemble": binary_metrics(y_true, probabilities.mean(axis=0)),
            "single": per_seed[name][0],
        }
        result[name]["final"] = result[name][final]
    result["difference"] = paired_difference(per_seed["chosen"], per_seed["baseline"])
    return result
