import numpy as np
import pandas as pd
import pytest

from lrfinder.data.splitting import SplitData
from lrfinder.params import QualityGateSettings
from lrfinder.reporting.model_card import metrics_table
from lrfinder.training.evaluation import binary_metrics, compare, paired_difference, task_metrics
from lrfinder.training.final import no_twin_mask
from lrfinder.training.gate import check_gate


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
    chosen = [
        {"accuracy": a, "precision": 0, "recall": 0, "f1": 0, "roc_auc": 0, "log_loss": 0}
        for a in (0.80, 0.81, 0.82)
    ]
    baseline = [dict(m, accuracy=m["accuracy"] - 0.05) for m in chosen]
    scalars = task_metrics("binary").scalars
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
    assert result["chosen"]["ensemble"]["accuracy"] == 1.0
    assert result["chosen"]["single"]["accuracy"] == 1.0
    assert result["chosen"]["per_seed"][1]["accuracy"] == 0.75
    assert result["baseline"]["ensemble"]["accuracy"] == 0.5
    assert result["baseline"]["final"]["accuracy"] == 0.5, "final follows final_model"
    single = compare(y, chosen, baseline, "single")
    assert single["final_model"] == "single"
    assert single["baseline"]["final"]["accuracy"] == 0.75
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


def test_quality_gate():
    assert check_gate(0.8, QualityGateSettings(min_test_accuracy=0.75)) is None
    failing = QualityGateSettings(min_test_accuracy=0.9, quality_gate_mode="fail")
    assert "0.8000 is below the minimum 0.9000" in check_gate(0.8, failing)
