"""The reference model: gradient-boosted trees with default settings on the final model's rows."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import mean_squared_error, roc_auc_score

from lrfinder.data.cleaning import CleanData
from lrfinder.data.splitting import SplitData, split_and_scale
from lrfinder.params import SplitSettings
from lrfinder.training.final import no_twin_mask
from lrfinder.training.reference import reference_model


def split_of(y: np.ndarray, x0: np.ndarray, task: str, classes: tuple[str, ...]) -> SplitData:
    """Train/validation/test splits of two features (`x0` and noise) and the target `y`."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x0": x0, "noise": rng.normal(size=len(y)), "y": y})
    clean = CleanData(frame, ["x0", "noise"], "y", task=task, classes=classes)
    return split_and_scale(clean, SplitSettings())


def seen(split: SplitData, refit: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features and target (own units) of the rows the final model learned from."""
    frame = pd.concat([split.train, split.val]) if refit else split.train
    return frame[split.features].to_numpy("float32"), frame[split.target].to_numpy()


def test_binary_reference_separates_a_separable_set_and_scores_probabilities():
    x0 = np.random.default_rng(1).normal(size=400)
    split = split_of((x0 > 0).astype(int), x0, "binary", ("0", "1"))
    mask = no_twin_mask(split)
    found = reference_model(split, refit=True, keep=mask)
    assert found.model == "HistGradientBoostingClassifier"
    assert found.fit_on == "train + validation"
    assert found.rows == len(split.train) + len(split.val) and found.seconds >= 0
    assert found.test["accuracy"] >= 0.95 and found.test["rows"] == len(split.test)
    x, y = seen(split, refit=True)
    model = HistGradientBoostingClassifier(random_state=0).fit(x, y)
    x_test = split.test[split.features].to_numpy("float32")
    direct = roc_auc_score(split.target_values("test"), model.predict_proba(x_test)[:, 1])
    assert found.test["roc_auc"] == pytest.approx(direct), "ranked by class 1's probability"
    assert found.test_without_twins["rows"] == mask.sum()
    only_train = reference_model(split, refit=False)
    assert only_train.fit_on == "train" and only_train.rows == len(split.train)
    assert only_train.test_without_twins is None


def test_multiclass_reference_gives_every_class_its_column_even_one_never_seen():
    x0 = np.random.default_rng(2).uniform(-3, 3, size=450)
    y = np.digitize(x0, [-1.0, 1.0])
    split = split_of(y, x0, "multiclass", ("low", "mid", "high"))
    found = reference_model(split, refit=True).test
    assert found["accuracy"] >= 0.9
    assert set(found["per_class"]) == {"low", "mid", "high"}
    assert np.trace(found["confusion_matrix"]) == round(found["accuracy"] * len(split.test))
    # A class the rows never hold: the fitted model knows three, the task four.
    wider = SplitData(**{**split.__dict__, "classes": ("low", "mid", "high", "never")})
    four = reference_model(wider, refit=True).test
    assert four["accuracy"] == found["accuracy"] and four["per_class"]["never"]["rows"] == 0
    assert four["log_loss"] == pytest.approx(found["log_loss"], abs=1e-6)


def test_regression_reference_is_scored_in_the_targets_units():
    x0 = np.random.default_rng(3).normal(size=400)
    y = 1000.0 + 50.0 * x0 + np.random.default_rng(4).normal(scale=2.0, size=400)
    split = split_of(y, x0, "regression", ())
    found = reference_model(split, refit=False)
    assert found.model == "HistGradientBoostingRegressor"
    x, y_seen = seen(split, refit=False)
    model = HistGradientBoostingRegressor(random_state=0).fit(x, y_seen)
    x_test = split.test[split.features].to_numpy("float32")
    y_test = split.target_values("test")
    direct = np.sqrt(mean_squared_error(y_test, model.predict(x_test)))
    assert found.test["rmse"] == pytest.approx(direct)
    assert found.test["rmse"] < 0.3 * y_test.std() and found.test["r2"] > 0.9
