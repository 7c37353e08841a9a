"""A reference model beside the network: scikit-learn's histogram gradient boosting with its
default settings, fit on the rows the final model learned from and scored as our models are."""

from __future__ import annotations

import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from lrfinder.data.splitting import SplitData
from lrfinder.training.evaluation import NO_TWIN_FREE_ROWS, task_metrics
from lrfinder.training.intervals import final_intervals
from lrfinder.training.results import NoRows, ReferenceScores, trained_on_words

SETTINGS = "default settings, random_state=0"


def trained_on(refit: bool) -> tuple[str, ...]:
    """The splits the final models learned from: train, and validation when refit on it."""
    return ("train", "val") if refit else ("train",)


def reference_model(
    split: SplitData, refit: bool, keep: np.ndarray | None = None, also: tuple[str, ...] = ()
) -> ReferenceScores:
    """HistGradientBoostingClassifier (binary, multiclass) or HistGradientBoostingRegressor
    fit on train (+ validation when the final model was `refit` on it), with its test metrics
    in the target's units and their 95 % intervals (headline, AUC and `also`), and on the test
    rows `keep` marks when given."""
    parts = trained_on(refit)
    x = np.concatenate([split.arrays(name)[0] for name in parts])
    y = np.concatenate([split.target_values(name) for name in parts])
    regression = split.task == "regression"
    kind = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    model = kind(random_state=0)
    start = time.perf_counter()
    model.fit(x, y.astype("float64") if regression else y.astype(int))
    seconds = time.perf_counter() - start
    predicted = reference_predictions(model, split)
    metrics_of = task_metrics(split.task, split.classes).of
    y_test = split.target_values("test")
    test = metrics_of(y_test, predicted)
    without_twins = None
    if keep is not None:
        without_twins = (
            metrics_of(y_test[keep], predicted[keep]) if keep.any() else NoRows(NO_TWIN_FREE_ROWS)
        )
    return ReferenceScores(
        model=kind.__name__,
        settings=SETTINGS,
        fit_on=trained_on_words(refit),
        rows=len(y),
        seconds=round(seconds, 3),
        test=test,
        intervals=final_intervals(test, y_test, predicted, split.task, split.classes, also),
        test_without_twins=without_twins,
    )


def reference_predictions(model, split: SplitData) -> np.ndarray:
    """The fitted model's test predictions as our models' metrics take them: the number in the
    target's units, the probability of class 1, or one probability per class (N, k)."""
    x_test, _ = split.arrays("test")
    if split.task == "regression":
        return model.predict(x_test)
    probabilities = np.zeros((len(x_test), len(split.classes)))
    probabilities[:, model.classes_.astype(int)] = model.predict_proba(x_test)
    return probabilities[:, 1] if split.task == "binary" else probabilities
