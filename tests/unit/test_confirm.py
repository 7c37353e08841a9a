import numpy as np
import pandas as pd
import pytest

from lrfinder.lr.confirm import candidate_rates, confirm
from lrfinder.model.heads import BINARY, head_for
from lrfinder.names import loss_name
from lrfinder.params import SelectionSettings

SEEDS = [0, 1, 2]


def bowl(target: float, lower_is_better: bool = True):
    """A fake trainer: the metric is a parabola in log10(rate) with its optimum at `target`."""
    calls: list[np.ndarray] = []

    def train(rates: np.ndarray) -> pd.DataFrame:
        calls.append(np.asarray(rates))
        rows = []
        for rate in rates:
            distance = (np.log10(rate) - np.log10(target)) ** 2
            for seed in SEEDS:
                value = 0.4 + distance + 0.001 * seed
                rows.append(
                    {"lr": rate, "seed": seed, "val_loss": value, "val_accuracy": 1 - value}
                )
        return pd.DataFrame(rows)

    train.calls = calls
    return train


def test_candidates_span_a_tenth_to_three_times_the_center():
    rates = candidate_rates(1e-3, SelectionSettings())
    assert len(rates) == 7
    assert rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(3e-3)


def test_interior_optimum_is_chosen_without_extending():
    train = bowl(1e-3)
    result = confirm(1e-3, SelectionSettings(), train)
    assert len(train.calls) == 1 and result.extensions == 0
    assert result.chosen_lr == pytest.approx(candidate_rates(1e-3, SelectionSettings())[4])
    assert "lowest median val_loss" in result.reason and "edge" not in result.reason


def test_edge_optimum_extends_the_set_in_its_direction():
    target = 0.05
    train = bowl(target)
    result = confirm(target / 20, SelectionSettings(), train)
    assert result.extensions == 2
    assert all(len(call) == 2 and call.min() > train.calls[0].max() for call in train.calls[1:])
    step = 30 ** (1 / 6)
    assert target / step <= result.chosen_lr <= target * step
    assert len(result.by_rate) == 11


def test_extension_is_bounded_and_says_so():
    result = confirm(1e-6, SelectionSettings(confirm_extensions=1), bowl(1.0))
    assert result.extensions == 1
    assert result.chosen_lr == result.by_rate["lr"].max()
    assert "still at the edge" in result.reason


def test_accuracy_metric_prefers_the_highest_median():
    result = confirm(1e-3, SelectionSettings(confirm_metric="val_accuracy"), bowl(1e-3))
    assert result.chosen_lr == pytest.approx(candidate_rates(1e-3, SelectionSettings())[4])
    assert "highest median val_accuracy" in result.reason


def test_heads_read_predictions_from_the_models_outputs():
    outputs = np.array([[[0.2], [0.9], [0.4]]])
    np.testing.assert_array_equal(BINARY.predict(outputs), [[0.2, 0.9, 0.4]])
    probabilities = np.array([[[0.1, 0.7, 0.2]]])
    np.testing.assert_array_equal(head_for("multiclass", 3).predict(probabilities), probabilities)
    assert head_for("multiclass", 3).default_loss == "sparse_categorical_crossentropy"
    assert loss_name("mse") in head_for("regression").losses


def plateau(rates_and_medians: dict[float, float]):
    """A fake trainer returning the given median per rate (three seeds around it)."""

    def train(rates: np.ndarray) -> pd.DataFrame:
        rows = []
        for rate in rates:
            value = min(rates_and_medians.items(), key=lambda kv: abs(np.log(kv[0] / rate)))[1]
            rows += [
                {"lr": rate, "seed": s, "val_loss": value + d, "val_accuracy": 1 - value - d}
                for s, d in enumerate((-0.01, 0.0, 0.01))
            ]
        return pd.DataFrame(rows)

    return train


def test_the_lowest_rate_tied_with_the_best_wins():
    rates = candidate_rates(1e-3, SelectionSettings())
    medians = dict(zip(rates, [0.60, 0.52, 0.4815, 0.4820, 0.4800, 0.49, 0.55], strict=True))
    result = confirm(1e-3, SelectionSettings(), plateau(medians))
    assert result.chosen_lr == pytest.approx(rates[2])  # within 0.5 % of 0.48 (at rates[4])
    assert "lowest rate within 0.5% of the best median val_loss" in result.reason
    strict = confirm(1e-3, SelectionSettings(confirm_tolerance=0.0), plateau(medians))
    assert strict.chosen_lr == pytest.approx(rates[4])
    assert strict.reason.startswith("lowest median val_loss")


def test_ties_on_accuracy_count_below_the_best():
    rates = candidate_rates(1e-3, SelectionSettings())
    losses = dict(zip(rates, [0.60, 0.52, 0.255, 0.2520, 0.2500, 0.26, 0.55], strict=True))
    settings = SelectionSettings(confirm_metric="val_accuracy", confirm_tolerance=0.003)
    result = confirm(1e-3, settings, plateau(losses))
    assert result.chosen_lr == pytest.approx(rates[3])  # 0.748 >= 0.75 * 0.997 > 0.745


def test_a_tie_reaching_the_lowest_candidate_extends_the_set_downwards():
    rates = candidate_rates(1e-3, SelectionSettings())
    medians = dict(zip(rates, [0.4810, 0.4812, 0.49, 0.4800, 0.50, 0.52, 0.55], strict=True))
    result = confirm(1e-3, SelectionSettings(), plateau(medians))
    assert result.extensions == 2 and result.chosen_lr < rates[0]
    assert result.chosen_lr == result.by_rate["lr"].min()
    assert "still at the edge of the set" in result.reason
