import numpy as np
import pandas as pd
import pytest

from lrfinder.lr.suggest import (
    METHODS,
    aggregate,
    argmin,
    minimum_tenth,
    steepest,
    suggest_table,
    valley,
)

LRS = np.geomspace(1e-6, 10, 200)
GRID_STEP = 10 ** (7 / 199)


def known_curve() -> np.ndarray:
    """Flat at 0.7 up to 1e-4, a cosine descent to 0.5 at 1e-2 (steepest at 1e-3), then a
    quadratic blow-up."""
    x = np.log10(LRS)
    descent = 0.6 + 0.1 * np.cos(np.pi * (x + 4) / 2)
    return np.where(x <= -4, 0.7, np.where(x <= -2, descent, 0.5 + 2 * (x + 2) ** 2))


def close(value: float, expected: float, factor: float = GRID_STEP * 1.01) -> bool:
    return expected / factor <= value <= expected * factor


@pytest.mark.parametrize(
    ("method", "expected", "grid_points"),
    [(argmin, 1e-2, 1), (minimum_tenth, 1e-3, 1), (steepest, 1e-3, 1), (valley, 1e-3, 2)],
)
def test_methods_find_the_known_answer(method, expected, grid_points):
    suggestion = method(LRS, known_curve())
    assert close(suggestion.lr, expected, GRID_STEP**grid_points * 1.01), suggestion
    assert suggestion.loss == known_curve()[suggestion.index]


@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
def test_nan_and_inf_points_are_ignored(method):
    curve = known_curve()
    curve[[5, 50, 90]] = np.nan
    curve[150:] = np.inf
    clean = method(LRS, known_curve())
    assert close(method(LRS, curve).lr, clean.lr, GRID_STEP**2)


@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
def test_flat_curve_gives_a_rate_inside_the_range(method):
    suggestion = method(LRS, np.full(len(LRS), 0.69))
    assert LRS[0] / 10 <= suggestion.lr <= LRS[-1]


@pytest.mark.parametrize("method", [steepest, valley])
def test_noisy_curve_still_points_into_the_descent(method):
    noisy = known_curve() + np.random.default_rng(3).normal(0, 0.01, len(LRS))
    smoothed = pd.Series(noisy).ewm(alpha=0.1).mean().to_numpy()
    assert 1e-4 <= method(LRS, smoothed).lr <= 1e-2


@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
def test_too_short_a_curve_is_an_error(method):
    with pytest.raises(ValueError, match="curve too short to judge: 6 finite points"):
        method(LRS[:6], known_curve()[:6])
    nan_curve = np.full(len(LRS), np.nan)
    nan_curve[:8] = 0.5
    with pytest.raises(ValueError, match="too short"):
        method(LRS, nan_curve)


def test_aggregate_is_a_log_median_with_quartile_spread():
    agg = aggregate("valley", [1e-3, 1e-2, 1e-1])
    assert agg.lr == pytest.approx(1e-2)
    assert agg.spread == pytest.approx(10.0)
    assert agg.disagree
    assert not aggregate("valley", [1e-3, 1.5e-3, 2e-3]).disagree


def test_suggest_table_skips_replicas_that_cannot_be_judged():
    curve = known_curve()
    table = pd.concat(
        [
            pd.DataFrame({"replica": 0, "lr": LRS, "smoothed_loss": curve}),
            pd.DataFrame({"replica": 1, "lr": LRS, "smoothed_loss": curve * 1.01}),
            pd.DataFrame({"replica": 2, "lr": LRS[:4], "smoothed_loss": curve[:4]}),
        ]
    )
    aggregates = suggest_table(table)
    assert set(aggregates) == {"valley", "steepest", "minimum/10", "argmin"}
    assert len(aggregates["valley"].per_replica) == 2
    assert close(aggregates["argmin"].lr, 1e-2)
    with pytest.raises(ValueError, match="no replica's curve can be judged"):
        suggest_table(table[table["replica"] == 2])
