"""The benchmark's ground truth: a rate judged on the grid's median curve."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.truth import FLOOR, Truth


def truth(losses: list[float], trivial: float = 0.7) -> Truth:
    rates = [1e-4, 1e-3, 1e-2, 1e-1]
    table = pd.DataFrame(
        {
            "lr": np.repeat(rates, 3),
            "seed": [0, 1, 2] * 4,
            "epochs_run": 10,
            "val_loss": np.repeat(losses, 3) + np.tile([0.0, -0.01, 0.05], 4),
            "test_metric": np.repeat([0.7, 0.8, 0.9, 0.6], 3),
        }
    )
    return Truth.from_table(table, trivial)


def test_the_curve_is_the_median_per_rate_linear_in_log_rate_between_grid_rates():
    found = truth([0.6, 0.5, 0.4, math.inf])
    assert found.best == pytest.approx(0.4) and found.best_lr == 1e-2
    assert found.at(1e-3) == pytest.approx(0.5)
    assert found.at(10**-2.5) == pytest.approx(0.45)
    assert found.at(10**-2.5, found.test_metric) == pytest.approx(0.85)
    assert found.regret(1e-3) == pytest.approx(0.25)
    assert found.replica_epochs == 120


def test_divergence_no_rate_and_rates_off_the_grid_are_never_in_a_region():
    found = truth([0.6, 0.5, 0.4, math.inf])
    assert found.regret(0.05) == math.inf
    assert found.regret(None) == math.inf
    assert math.isnan(found.at(1e-5)) and found.regret(1e-5) == math.inf


def test_a_region_spans_the_rates_within_its_tolerance_of_the_best():
    found = truth([0.6, 0.41, 0.4, 0.8])
    low, high = found.region(0.025)
    assert 1e-3 <= low < 1e-2 < high < 1e-1
    assert found.regret(low) <= 0.025 and found.regret(high) == pytest.approx(0.025, abs=1e-3)


def test_a_best_loss_near_zero_is_judged_against_a_share_of_the_trivial_loss():
    found = truth([0.3, 0.001, 0.0001, 0.5], trivial=0.7)
    assert found.scale == pytest.approx(FLOOR * 0.7)
    assert found.regret(1e-3) == pytest.approx((0.001 - 0.0001) / (FLOOR * 0.7))
