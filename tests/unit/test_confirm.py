import numpy as np
import pandas as pd
import pytest

from lrfinder.confirm import ConfirmConfig, candidate_rates, confirm
from lrfinder.training import bce_from_logits

SEEDS = [0, 1, 2]


def bowl(target: float, lower_is_better: bool = True):
    """A fake evaluator: the metric is a parabola in log10(rate) with its optimum at `target`."""
    calls: list[np.ndarray] = []

    def evaluate(rates: np.ndarray) -> pd.DataFrame:
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

    evaluate.calls = calls
    return evaluate


def test_candidates_span_a_tenth_to_three_times_the_center():
    rates = candidate_rates(1e-3, ConfirmConfig())
    assert len(rates) == 7
    assert rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(3e-3)


def test_interior_optimum_is_chosen_without_extending():
    evaluate = bowl(1e-3)
    result = confirm(1e-3, ConfirmConfig(), evaluate)
    assert len(evaluate.calls) == 1 and result.extensions == 0
    assert result.chosen_lr == pytest.approx(candidate_rates(1e-3, ConfirmConfig())[4])
    assert "lowest median val_loss" in result.reason and "edge" not in result.reason


def test_edge_optimum_extends_the_set_in_its_direction():
    target = 0.05
    evaluate = bowl(target)
    result = confirm(target / 20, ConfirmConfig(), evaluate)
    assert result.extensions == 2
    assert all(
        len(call) == 2 and call.min() > evaluate.calls[0].max() for call in evaluate.calls[1:]
    )
    step = 30 ** (1 / 6)
    assert target / step <= result.chosen_lr <= target * step
    assert len(result.by_rate) == 11


def test_extension_is_bounded_and_says_so():
    result = confirm(1e-6, ConfirmConfig(max_extensions=1), bowl(1.0))
    assert result.extensions == 1
    assert result.chosen_lr == result.by_rate["lr"].max()
    assert "still at the edge" in result.reason


def test_accuracy_metric_prefers_the_highest_median():
    result = confirm(1e-3, ConfirmConfig(metric="val_accuracy"), bowl(1e-3))
    assert result.chosen_lr == pytest.approx(candidate_rates(1e-3, ConfirmConfig())[4])
    assert "highest median val_accuracy" in result.reason


def test_bce_from_logits_matches_the_definition():
    logits = np.array([[0.0, 2.0, -3.0]])
    y = np.array([1.0, 0.0, 0.0])
    p = 1 / (1 + np.exp(-logits[0]))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert bce_from_logits(logits, y)[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_candidates": 2}, "at least 3"), ({"metric": "auc"}, "confirm_metric='auc'")],
)
def test_config_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConfirmConfig(**kwargs)
