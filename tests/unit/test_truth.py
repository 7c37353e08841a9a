"""The benchmark's ground truth: a rate judged on the grid's median held-out loss, within a
tolerance or the truth's own noise band."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from bench.truth import FLOOR, Truth, held_out, mean_losses
from lrfinder.data.splitting import SplitData

RATES = [1e-4, 1e-3, 1e-2, 1e-1]


def truth(losses: list[float], trivial: float = 0.7, spread: float = 1e-4) -> Truth:
    """A truth over RATES from 3 seeds per rate: the median is `losses`, the other two seeds
    `spread` below and 5 x `spread` above it."""
    table = pd.DataFrame(
        {
            "lr": np.repeat(RATES, 3),
            "seed": [0, 1, 2] * 4,
            "epochs_run": 10,
            "val_loss": 0.0,
            "held_out_loss": np.repeat(losses, 3) + np.tile([0.0, -spread, 5 * spread], 4),
            "test_metric": np.repeat([0.7, 0.8, 0.9, 0.6], 3),
        }
    )
    return Truth.from_table(table, trivial)


def test_the_curve_is_the_median_held_out_loss_linear_in_log_rate_between_grid_rates():
    found = truth([0.6, 0.5, 0.4, math.inf])
    assert found.best == pytest.approx(0.4) and found.best_lr == 1e-2
    assert found.at(1e-3) == pytest.approx(0.5)
    assert found.at(10**-2.5) == pytest.approx(0.45)
    assert found.at(10**-2.5, found.test_metric) == pytest.approx(0.85)
    assert found.regret(1e-3) == pytest.approx(0.25)
    assert found.replica_epochs == 120


def test_divergence_no_rate_and_rates_off_the_grid_are_never_in_a_region():
    found = truth([0.6, 0.5, 0.4, math.inf])
    assert found.regret(0.05) == math.inf and not found.contains(0.05, 0.025)
    assert found.regret(None) == math.inf and not found.contains(None, 0.025)
    assert math.isnan(found.at(1e-5)) and not found.contains(1e-5, 0.025)


def test_a_region_spans_the_rates_within_its_tolerance_of_the_best():
    found = truth([0.6, 0.41, 0.4, 0.8])
    assert found.noise < 0.01
    low, high = found.region(0.025)
    assert 1e-3 <= low < 1e-2 < high < 1e-1
    assert found.regret(low) <= 0.025 and found.regret(high) == pytest.approx(0.025, abs=1e-3)
    assert found.width(0.025) == pytest.approx(math.log10(high / low))


def test_a_best_loss_near_zero_is_judged_against_a_share_of_the_trivial_loss():
    found = truth([0.3, 0.001, 0.0001, 0.5], trivial=0.7, spread=1e-6)
    assert found.scale == pytest.approx(FLOOR * 0.7)
    assert found.regret(1e-3) == pytest.approx((0.001 - 0.0001) / (FLOOR * 0.7))


def test_a_rate_inside_the_best_rates_noise_band_is_in_every_region():
    quiet, noisy = truth([0.6, 0.42, 0.4, 0.8]), truth([0.6, 0.42, 0.4, 0.8], spread=0.01)
    assert quiet.regret(1e-3) == pytest.approx(0.05)
    assert not quiet.contains(1e-3, 0.025)
    # The best rate's seeds reach 0.45: the bootstrap's upper end of its median is 12.5 % above.
    assert noisy.noise == pytest.approx(0.125)
    assert noisy.contains(1e-3, 0.01) and noisy.contains(1e-3, 0.025)
    assert not noisy.contains(1e-4, 0.025)
    assert noisy.width(0.01) > quiet.width(0.01)


def test_a_data_set_is_informative_when_its_1_percent_region_spans_at_most_two_decades():
    assert truth([0.6, 0.5, 0.4, 0.8]).informative
    assert not truth([0.4, 0.4, 0.4, 0.4]).informative


def split_with_twins() -> SplitData:
    """Two train rows, one validation row, and four test rows of which the first two repeat a
    train and a validation row's features."""

    def frame(rows: list[tuple[float, float, int]]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=["a", "b", "label"])

    return SplitData(
        train=frame([(0.0, 1.0, 0), (1.0, 0.0, 1)]),
        val=frame([(2.0, 2.0, 1)]),
        test=frame([(0.0, 1.0, 1), (2.0, 2.0, 1), (3.0, 0.5, 0), (0.5, 3.0, 1)]),
        features=["a", "b"],
        target="label",
        scaler={"columns": ["a", "b"]},
        report={},
    )


def test_the_held_out_rows_are_the_test_rows_without_a_twin_in_train_or_validation():
    x, y = held_out(split_with_twins())
    assert x.tolist() == [[3.0, 0.5], [0.5, 3.0]] and y.tolist() == [0.0, 1.0]


def test_each_replicas_held_out_loss_is_the_tasks_keras_loss_and_inf_where_it_diverged():
    y = np.array([0.0, 1.0, 1.0], "float32")
    predicted = np.array([[0.2, 0.7, 0.9], [0.5, 0.5, 0.5], [np.nan, 0.5, 0.5]])
    losses = mean_losses(split_with_twins(), predicted, y)
    assert losses[0] == pytest.approx(log_loss(y, predicted[0]), rel=1e-5)
    assert losses[1] == pytest.approx(math.log(2), rel=1e-5)
    assert losses[2] == math.inf


def test_failed_seeds_at_the_best_rate_widen_its_noise_band_but_never_admit_a_failed_rate():
    losses = {
        1e-4: [0.6] * 8,
        1e-3: [0.5] * 8,
        1e-2: [0.4] * 5 + [math.inf] * 3,
        1e-1: [math.inf] * 8,
    }
    table = pd.DataFrame(
        [
            {"lr": lr, "seed": seed, "epochs_run": 10, "val_loss": 0.0, "held_out_loss": loss}
            for lr, values in losses.items()
            for seed, loss in enumerate(values)
        ]
    ).assign(test_metric=0.5)
    found = Truth.from_table(table, trivial_loss=0.7)
    assert found.best == pytest.approx(0.4) and found.noise == math.inf
    assert found.contains(1e-4, 0.01) and found.contains(1e-3, 0.01)
    assert not found.contains(1e-1, 0.01) and not found.contains(None, 0.01)
    assert not found.informative


def test_no_held_out_rows_give_an_infinite_loss():
    losses = mean_losses(split_with_twins(), np.zeros((2, 0)), np.zeros(0, "float32"))
    assert losses.tolist() == [math.inf, math.inf]
