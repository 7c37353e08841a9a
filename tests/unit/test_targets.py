"""Targets beyond good/bad: the task inferred or given, classes and numbers through cleaning,
splitting, metrics, the trivial predictor, export and charts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, log_loss

from lrfinder.data.cleaning import CleanData, clean_custom, label_rule
from lrfinder.data.sources import DataSource, SourceFile
from lrfinder.data.splitting import split_and_scale
from lrfinder.errors import DataError
from lrfinder.metric_names import SCALARS
from lrfinder.model.heads import head_for
from lrfinder.params import DataSettings, SplitSettings
from lrfinder.reporting.plots import result_charts
from lrfinder.training.evaluation import compare, multiclass_metrics, regression_metrics
from lrfinder.training.final import trivial_prediction


def own_csv(tmp_path: Path, target: list) -> DataSource:
    """Two numeric features and the target column `y`, one row per target value."""
    rng = np.random.default_rng(0)
    lines = ["a,b,y"] + [f"{rng.normal():.4f},{rng.normal():.4f},{value}" for value in target]
    path = tmp_path / "own.csv"
    path.write_text("\n".join(lines) + "\n")
    return DataSource((SourceFile(path, "0" * 64),), "test")


def cleaned(tmp_path: Path, target: list, **rule) -> CleanData:
    args = {"threshold": None, "positive_label": None, "task": None} | rule
    return clean_custom(own_csv(tmp_path, target), label_rule(DataSettings(target="y", **args)))


def test_text_with_more_than_two_values_is_multiclass_with_named_classes(tmp_path):
    data = cleaned(tmp_path, ["red", "green", "blue", "green"] * 5)
    assert data.task == "multiclass" and data.classes == ("blue", "green", "red")
    assert data.frame["y"].tolist()[:4] == [2, 1, 0, 1]
    assert data.report["class_balance"] == {"blue": 5, "green": 10, "red": 5}
    assert data.report["label_rule"] == "y as classes"


def test_two_values_are_binary_with_the_larger_as_class_1(tmp_path):
    text = cleaned(tmp_path, ["no", "yes"] * 6)
    assert text.task == "binary" and text.frame["y"].tolist()[:2] == [0, 1]
    assert text.report["label_rule"] == "y == 'yes'"
    numbers = cleaned(tmp_path, [0, 1, 1] * 4)
    assert numbers.task == "binary" and numbers.report["label_rule"] == "y >= 1"


def test_numeric_classes_keep_their_values_as_names(tmp_path):
    data = cleaned(tmp_path, [3, 5, 4, 5] * 3, task="multiclass")
    assert data.classes == ("3", "4", "5") and data.frame["y"].tolist()[:4] == [0, 2, 1, 2]


def test_regression_keeps_the_number(tmp_path):
    data = cleaned(tmp_path, [1.5, 2.5, 4.0] * 4, task="regression")
    assert data.task == "regression" and data.classes == ()
    assert data.frame["y"].dtype == "float64" and data.frame["y"].tolist()[:3] == [1.5, 2.5, 4.0]
    assert data.report["target_summary"]["max"] == 4.0


@pytest.mark.parametrize(
    ("target", "rule", "message"),
    [
        ([3, 4, 5, 6] * 3, {}, r"numeric with 4 distinct values.*--task regression"),
        ([7] * 12, {}, r"has one value \(7\) in all 12 clean rows"),
        (["a", "b", "c"] * 4, {"task": "binary"}, r"--task binary, but target 'y' has 3"),
        (
            ["1.5", "2", "high", "3"] * 3,
            {"task": "regression"},
            r"line 4: 'high'\), but --task regression needs numbers.*--task multiclass",
        ),
    ],
)
def test_targets_that_cannot_be_learned_as_asked_stop_with_the_fix(tmp_path, target, rule, message):
    with pytest.raises(DataError, match=message):
        cleaned(tmp_path, target, **rule)


def frame_of(y: list) -> CleanData:
    n = len(y)
    frame = pd.DataFrame({"a": np.arange(n, dtype=float), "b": np.arange(n) % 7, "y": y})
    return frame


def test_multiclass_splits_keep_every_class_in_test_and_validation():
    y = [0] * 60 + [1] * 30 + [2] * 10
    clean = CleanData(frame_of(y), ["a", "b"], "y", task="multiclass", classes=("x", "y", "z"))
    split = split_and_scale(clean, SplitSettings())
    assert split.report["stratified"] == ["test", "val"]
    for name in ("train", "val", "test"):
        counts = split.report["class_balance"][name]
        assert set(counts) == {"x", "y", "z"} and min(counts.values()) >= 1
    assert (
        head_for(split.task, len(split.classes)).units == 3
        and head_for(split.task, len(split.classes)).name == "multiclass"
    )


def test_a_class_too_rare_for_three_splits_is_named():
    clean = CleanData(
        frame_of([0] * 30 + [1] * 2), ["a", "b"], "y", task="multiclass", classes=("p", "q")
    )
    with pytest.raises(DataError, match=r"too few rows to split: \{'q': 2\}"):
        split_and_scale(clean, SplitSettings())


def test_regression_learns_the_target_standardised_on_train_and_maps_back():
    y = list(np.linspace(10.0, 30.0, 100))
    clean = CleanData(frame_of(y), ["a", "b"], "y", task="regression", classes=())
    split = split_and_scale(clean, SplitSettings())
    assert split.report["stratified"] == []
    scaler = split.scaler["target"]
    train = split.train["y"].to_numpy()
    assert scaler["mean"] == pytest.approx(train.mean()) and scaler["scale"] == pytest.approx(
        train.std()
    )
    _, y_model = split.arrays("train")
    assert y_model.mean() == pytest.approx(0.0, abs=1e-5) and y_model.std() == pytest.approx(
        1.0, abs=1e-5
    )
    _, y_test = split.arrays("test")
    np.testing.assert_allclose(
        split.to_target_units(y_test), split.target_values("test"), rtol=1e-6
    )
    assert split.test["y"].dtype == "float64", "the Parquet files keep the target's units"


def test_multiclass_metrics_follow_scikit_learn():
    y = np.array([0, 1, 2, 2, 1, 0])
    p = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.2, 0.6],
            [0.5, 0.1, 0.4],
            [0.3, 0.4, 0.3],
            [0.2, 0.5, 0.3],
        ]
    )
    m = multiclass_metrics(y, p, ("a", "b", "c"))
    predicted = p.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert m["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert m["log_loss"] == pytest.approx(log_loss(y, p))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["c"] == {"precision": 1.0, "recall": 0.5, "rows": 2}


def test_regression_metrics_are_in_the_targets_units():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3)) and m["mae"] == pytest.approx(2 / 3)
    assert m["r2"] == pytest.approx(1 - 4 / 2)


class FakeSplit:
    """The parts of SplitData the trivial predictor reads."""

    def __init__(self, task, classes, train, val):
        self.task, self.classes, self.values = task, classes, {"train": train, "val": val}

    def target_values(self, name):
        return np.asarray(self.values[name])


def test_the_trivial_predictor_is_the_majority_class_or_the_mean_of_what_was_learned():
    classes = FakeSplit("multiclass", ("a", "b", "c"), [0, 1, 1, 2], [1, 1])
    shares = trivial_prediction(classes, 3, refit=True)
    np.testing.assert_allclose(shares, [[1 / 6, 4 / 6, 1 / 6]] * 3)
    number = FakeSplit("regression", (), [1.0, 2.0], [6.0])
    np.testing.assert_allclose(trivial_prediction(number, 2, refit=False), [1.5, 1.5])
    np.testing.assert_allclose(trivial_prediction(number, 2, refit=True), [3.0, 3.0])
    binary = FakeSplit("binary", ("0", "1"), [0, 1, 1, 1], [])
    np.testing.assert_allclose(trivial_prediction(binary, 2, refit=False), [0.75, 0.75])


def test_compare_and_charts_for_each_task():
    from lrfinder.training.evaluation import task_metrics

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 40)
    chosen = rng.dirichlet(np.ones(3), size=(2, 40))
    baseline = rng.dirichlet(np.ones(3), size=(2, 40))
    metrics = task_metrics("multiclass", ("a", "b", "c"))
    test = compare(y, chosen, baseline, "ensemble", metrics, np.tile([0.2, 0.5, 0.3], (40, 1)))
    assert test.trivial["accuracy"] == pytest.approx(np.mean(y == 1))
    assert tuple(test.difference) == SCALARS["multiclass"]
    charts = result_charts("multiclass", test, pd.DataFrame())
    assert set(charts) == {"confusion_matrix.png", "class_recall.png"}
    truth = rng.normal(5, 1, 40).round()
    predicted = {"pred_chosen": truth + rng.normal(0, 0.5, 40), "pred_baseline": truth + 0.3}
    frame = pd.DataFrame({"y_true": truth, **predicted})
    regression = task_metrics("regression")
    test = compare(
        truth,
        np.stack([frame["pred_chosen"]] * 2),
        np.stack([frame["pred_baseline"]] * 2),
        "ensemble",
        regression,
    )
    assert test.chosen.final["rmse"] == pytest.approx(
        np.sqrt(np.mean((truth - frame["pred_chosen"]) ** 2))
    )
    assert set(result_charts("regression", test, frame)) == {
        "predicted_vs_true.png",
        "residuals.png",
    }


def test_a_regression_ensemble_exports_predicting_in_the_targets_units():
    from lrfinder.engine.replicas import Replicas
    from lrfinder.model.heads import REGRESSION
    from lrfinder.model.network import to_keras
    from tests.helpers import recipe, tiny_classification

    x, y = tiny_classification(3)
    engine = Replicas(recipe(x.shape[1], head=REGRESSION), [1, 2])
    engine.train(x, y, np.full(10, 1e-2))
    replicas = [state.variables for state in engine.states()]
    model = to_keras(engine.recipe.network, replicas, {"mean": 5.0, "scale": 2.0})
    expected = engine.outputs(x)[..., 0].mean(axis=0) * 2.0 + 5.0
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 0], expected, atol=1e-5)


def test_a_typo_in_a_numeric_target_is_named_not_taken_for_a_class(tmp_path):
    target = [1, 2, 3, 10] * 5
    target[3] = "x"  # line 5 (the header is line 1)
    with pytest.raises(DataError, match=r"column 'y', line 5: 'x' is not a number"):
        cleaned(tmp_path, target, task="multiclass")
    with pytest.raises(DataError, match=r"column 'y', line 5: 'x' is not a number"):
        cleaned(tmp_path, target)


def test_numeric_class_names_are_exact():
    big = CleanData(frame_of([1000001, 1000002, 1000003] * 4), ["a", "b"], "y")
    from lrfinder.data.cleaning import settle_target

    _, labels, names = settle_target(
        label_rule(
            DataSettings(target="y", threshold=None, positive_label=None, task="multiclass")
        ),
        big.frame["y"],
        "f",
    )
    assert names == ("1000001", "1000002", "1000003") and labels.tolist()[:3] == [0, 1, 2]
    _, _, halves = settle_target(
        label_rule(
            DataSettings(target="y", threshold=None, positive_label=None, task="multiclass")
        ),
        pd.Series([0.5, 1.5, 0.5]),
        "f",
    )
    assert halves == ("0.5", "1.5")


def test_no_clean_rows_is_a_data_error(tmp_path):
    from lrfinder.data.cleaning import settle_target

    with pytest.raises(DataError, match="no clean rows"):
        settle_target(
            label_rule(DataSettings(target=None, threshold=None, positive_label=None)),
            pd.Series([], dtype=float),
            "f",
        )


@pytest.mark.parametrize(
    ("settings", "stratified"),
    [({"split_strategy": "grouped"}, []), ({"val_size": 0.0}, ["test"]), ({}, ["test", "val"])],
)
def test_the_report_says_which_splits_are_stratified(settings, stratified):
    y = [0] * 60 + [1] * 30 + [2] * 10
    clean = CleanData(frame_of(y), ["a", "b"], "y", task="multiclass", classes=("x", "y", "z"))
    assert split_and_scale(clean, SplitSettings(**settings)).report["stratified"] == stratified
