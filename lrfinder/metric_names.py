"""The scalar test metrics of each task, and which are better when lower: names only, so that
the settings can check a metric's name without loading scikit-learn."""

from __future__ import annotations

SCALARS: dict[str, tuple[str, ...]] = {
    "binary": (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "mcc",
        "roc_auc",
        "average_precision",
        "log_loss",
    ),
    "multiclass": (
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "mcc",
        "average_precision",
        "log_loss",
    ),
    "regression": ("rmse", "mae", "r2"),
}
HEADLINE = {"binary": "accuracy", "multiclass": "accuracy", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
ALL_SCALARS = tuple(dict.fromkeys(name for names in SCALARS.values() for name in names))


def is_better(name: str, value, than):
    """Whether `value` of metric `name` is strictly better than `than` (elementwise for arrays)."""
    return value < than if name in LOWER_IS_BETTER else value > than
