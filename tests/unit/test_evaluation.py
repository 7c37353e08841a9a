import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef, roc_auc_score

from lrfinder.data.splitting import SplitData
from lrfinder.metric_names import SCALARS
from lrfinder.params import QualityGateSettings
from lrfinder.reporting.model_card import metrics_table
from lrfinder.training.decision import tune_threshold
from lrfinder.training.evaluation import (
    binary_metrics,
    compare,
    multiclass_metrics,
    paired_difference,
    task_metrics,
)
from lrfinder.training.final import no_twin_mask
from lrfinder.training.gate import check_gate
from lrfinder.training.intervals import (
    bootstrap_auc_interval,
    bootstrap_interval,
    bootstrap_rmse_interval,
    final_intervals,
    wilson_interval,
)
from lrfinder.training.results import Comparison, Evaluation, GroupScores
from tests.helpers import evaluation_of


def test_binary_metrics_on_a_known_case():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    m = binary_metrics(y, p)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(5 / 6)
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_paired_difference_and_its_verdict():
    scalars = task_metrics("binary").scalars
    chosen = [{**dict.fromkeys(scalars, 0.0), "accuracy": a} for a in (0.80, 0.81, 0.82)]
    baseline = [dict(m, accuracy=m["accuracy"] - 0.05) for m in chosen]
    diff = paired_difference(chosen, baseline, scalars)["accuracy"]
    assert diff["mean"] == pytest.approx(0.05) and diff["std"] == pytest.approx(0.0, abs=1e-12)
    assert diff["larger_than_spread"] and diff["chosen_better_in"] == "3 of 3 seeds"
    noisy = [
        dict(m, accuracy=m["accuracy"] + s) for m, s in zip(baseline, (0.1, -0.1, 0.0), strict=True)
    ]
    assert not paired_difference(chosen, noisy, scalars)["accuracy"]["larger_than_spread"]


def test_compare_reports_ensemble_single_and_final():
    y = np.array([0, 1, 0, 1])
    chosen = np.array([[0.2, 0.7, 0.4, 0.9], [0.3, 0.4, 0.2, 0.8]])
    baseline = np.array([[0.6, 0.7, 0.4, 0.9], [0.7, 0.6, 0.6, 0.8]])
    result = compare(y, chosen, baseline, "ensemble")
    assert result.chosen.ensemble["accuracy"] == 1.0
    assert result.chosen.single["accuracy"] == 1.0
    assert result.chosen.per_seed[1]["accuracy"] == 0.75
    assert result.baseline.ensemble["accuracy"] == 0.5
    assert result.baseline.final["accuracy"] == 0.5, "final follows final_model"
    single = compare(y, chosen, baseline, "single")
    assert single.final_model == "single"
    assert single.baseline.final["accuracy"] == 0.75
    assert "| accuracy |" in metrics_table(result)


def test_no_twin_mask_marks_test_rows_seen_in_training():
    frame = lambda rows: pd.DataFrame(rows, columns=["a", "y"])  # noqa: E731
    split = SplitData(
        train=frame([[1.0, 0], [2.0, 1]]),
        val=frame([[3.0, 1]]),
        test=frame([[1.0, 1], [3.0, 0], [4.0, 0]]),
        features=["a"],
        target="y",
        scaler={},
        report={},
    )
    assert no_twin_mask(split).tolist() == [False, False, True]


def gate_metrics(task: str, chosen: dict, trivial: dict) -> Evaluation:
    """An evaluation with the parts the quality gate reads (100 test rows, 90 without a
    twin)."""

    def comparison(scores: dict) -> Comparison:
        group = GroupScores([scores], {}, scores, scores, scores)
        return Comparison("single", group, group, {}, trivial)

    test = comparison({**chosen, "rows": 100})
    return evaluation_of(test, task, test_without_twins=comparison({**chosen, "rows": 90}))


def test_the_quality_gate_reads_any_metric_and_needs_the_trivial_predictor_beaten():
    passing = gate_metrics("binary", {"accuracy": 0.8, "mcc": 0.5}, {"accuracy": 0.6, "mcc": 0.0})
    assert check_gate(passing, QualityGateSettings(gate_value=0.75)) is None
    below = check_gate(passing, QualityGateSettings(gate_value=0.9))
    assert "test accuracy 0.8000 is below the minimum 0.9000" in below
    assert check_gate(passing, QualityGateSettings(gate_metric="mcc", gate_value=0.6))
    # A model that predicts the majority class for every row: accuracy alone passes a bound.
    majority = gate_metrics(
        "binary", {"accuracy": 0.966, "mcc": 0.0}, {"accuracy": 0.9667, "mcc": 0.0}
    )
    message = check_gate(majority, QualityGateSettings(gate_value=0.9))
    assert "does not beat the majority-class predictor (0.9667)" in message
    assert "below the minimum" not in message
    # Lower is better for an error: a bound is a maximum, and beating means lower.
    regression = gate_metrics("regression", {"rmse": 0.7}, {"rmse": 0.9})
    assert check_gate(regression, QualityGateSettings(gate_value=0.8)) is None
    above = check_gate(regression, QualityGateSettings(gate_value=0.5))
    assert "test rmse 0.7000 is above the maximum 0.5000" in above


def test_binary_metrics_tell_a_majority_predictor_from_a_model():
    y = np.array([0] * 96 + [1] * 4)
    majority = binary_metrics(y, np.full(100, 0.04))
    assert majority["accuracy"] == 0.96 and majority["balanced_accuracy"] == 0.5
    assert majority["mcc"] == 0.0 and majority["average_precision"] == pytest.approx(0.04)
    learned = binary_metrics(y, np.r_[np.full(96, 0.2), np.full(4, 0.45)], threshold=0.3)
    assert learned["recall"] == 1.0 and learned["mcc"] == 1.0 and learned["threshold"] == 0.3


def test_a_decision_threshold_is_tuned_to_the_best_f1_or_balanced_accuracy():
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1])
    p = np.array([0.05, 0.1, 0.15, 0.2, 0.3, 0.35, 0.4, 0.45])
    f1 = tune_threshold(y, p, "f1")
    assert 0.2 < f1 < 0.3, "calls the three positives and one negative class 1"
    assert f1_score(y, p >= f1) == pytest.approx(0.857142857)
    for threshold in np.linspace(0.01, 0.99, 99):
        assert f1_score(y, p >= threshold) <= f1_score(y, p >= f1) + 1e-12
    assert tune_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], "balanced_accuracy") == 0.5
    assert tune_threshold([0, 0], [0.1, 0.9], "f1") == 0.5, "one class: nothing to tune"


def test_intervals_widen_on_few_rows_and_cover_the_estimate():
    low, high = wilson_interval(2, 4)
    assert low < 0.2 and high > 0.8
    narrow = wilson_interval(800, 1000)
    assert narrow[0] < 0.8 < narrow[1] and narrow[1] - narrow[0] < 0.06
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    score = y + rng.normal(0, 1.0, 400)
    auc = roc_auc_score(y, score)
    a, b = bootstrap_auc_interval(y, score)
    assert a < auc < b and b - a < 0.15
    fewer = bootstrap_auc_interval(y[:60], score[:60])
    assert fewer[1] - fewer[0] > b - a
    assert bootstrap_auc_interval(y[:8], score[:8]) is None, "too few rows of a class"
    truth = rng.normal(size=400)
    predicted = truth + rng.normal(0, 0.5, 400)
    rmse = float(np.sqrt(np.mean((truth - predicted) ** 2)))
    low, high = bootstrap_rmse_interval(truth, predicted[:, None])
    assert low < rmse < high and high - low < 0.1
    few = bootstrap_rmse_interval(truth[:20], predicted[:20])
    assert few[1] - few[0] > high - low
    assert bootstrap_rmse_interval(truth[:1], predicted[:1]) is None
    regression = final_intervals({"rmse": rmse}, truth, predicted, "regression")
    assert regression == {"rmse": [low, high]}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_gate_metric_of_every_task_has_an_interval_around_its_value(task):
    rng = np.random.default_rng(3)
    n = 300
    if task == "regression":
        y = rng.normal(size=n)
        output = y + rng.normal(0, 0.7, n)
    elif task == "binary":
        y = rng.integers(0, 2, n)
        output = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, n), 0.01, 0.99)
    else:
        y = rng.integers(0, 3, n)
        output = rng.dirichlet(np.ones(3), n) + 0.4 * np.eye(3)[y]
        output /= output.sum(axis=1, keepdims=True)
    of = task_metrics(task, ("a", "b", "c")).of
    metrics = of(y, output)
    names = SCALARS[task]
    found = final_intervals(metrics, y, output, task, ("a", "b", "c"), names)
    assert set(found) == set(names)
    for name in names:
        low, high = found[name]
        assert low <= metrics[name] <= high and high - low < 0.5, (name, low, high)
    nothing = bootstrap_interval(lambda a, b: float("nan"), y, output)
    assert nothing is None, "undefined on every resample: no interval"


def test_mcc_is_scikit_learns_for_two_and_more_classes():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 50), rng.random(50)
    assert binary_metrics(y, p)["mcc"] == pytest.approx(matthews_corrcoef(y, p >= 0.5))
    y3, probabilities = rng.integers(0, 3, 60), rng.dirichlet(np.ones(3), 60)
    found = multiclass_metrics(y3, probabilities, ("a", "b", "c"))["mcc"]
    assert found == pytest.approx(matthews_corrcoef(y3, probabilities.argmax(axis=1)))


def test_metrics_hold_for_two_classes_as_multiclass_and_thresholds_near_one():
    two = multiclass_metrics(
        np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), ("a", "b")
    )
    assert two["accuracy"] == pytest.approx(2 / 3) and 0 < two["average_precision"] <= 1
    saturated = np.array([1.0, 1.0, 0.2], "float32")
    near_one = binary_metrics(np.array([1, 1, 0]), saturated, threshold=0.99999997)
    assert near_one["recall"] == 1.0, "the threshold compares unclipped probabilities"
