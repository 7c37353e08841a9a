import numpy as np
import pandas as pd
import pytest

from lrfinder.lr.selection import centre_method, warnings_for
from lrfinder.lr.suggest import (
    METHODS,
    NoReading,
    aggregate,
    argmin,
    flat_curves_warning,
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


@pytest.mark.parametrize("method", [valley, steepest])
def test_a_flat_curve_gives_a_rate_inside_the_range_and_a_warning(method):
    flat = np.full(len(LRS), 0.69)
    assert LRS[0] / 10 <= method(LRS, flat).lr <= LRS[-1]
    table = pd.DataFrame({"replica": 0, "lr": LRS, "smoothed_loss": flat})
    assert "the loss never fell by 1% on 1 of 1 replicas" in flat_curves_warning(table)
    falling = table.assign(smoothed_loss=known_curve())
    assert flat_curves_warning(falling) is None


def test_a_curve_that_never_diverges_has_no_minimum_to_read_but_a_valley():
    still_falling = 0.7 - 0.2 * (np.log10(LRS) + 6) / 7
    for method in (argmin, minimum_tenth):
        with pytest.raises(NoReading, match="never diverged, so its minimum is the range's edge"):
            method(LRS, still_falling)
    assert LRS[0] < valley(LRS, still_falling).lr < LRS[-1]


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


def test_suggest_table_skips_replicas_that_cannot_be_judged_and_says_why():
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
    assert aggregates["valley"].no_reading.startswith("1 of 3 replicas: curve too short")
    with pytest.raises(ValueError, match="no replica's curve can be read: curve too short"):
        suggest_table(table[table["replica"] == 2])
    rising = LRS < 1
    never_diverged = pd.DataFrame(
        {"replica": 0, "lr": LRS[rising], "smoothed_loss": 1.0 - 0.01 * np.arange(rising.sum())}
    )
    found = suggest_table(never_diverged)
    assert not found["argmin"].read and np.isnan(found["argmin"].lr)
    assert "1 of 1 replicas: the loss was still at its lowest" in found["argmin"].no_reading
    assert found["valley"].read


def test_a_method_without_reading_hands_the_centre_to_one_that_read_and_warns():
    read = aggregate("valley", [1e-3, 2e-3])
    unread = aggregate("argmin", [], "8 of 8 replicas: the range test never diverged")
    aggregates = {"valley": read, "argmin": unread}
    assert centre_method(aggregates, "valley") == ("valley", None)
    used, why = centre_method(aggregates, "argmin")
    assert used == "valley" and "argmin read no replica's curve" in why
    assert "argmin: no reading on 8 of 8 replicas" in warnings_for(aggregates)[0]


def test_a_curve_that_ends_in_non_finite_losses_diverged_so_its_minimum_is_read():
    falling = 0.7 - 0.2 * (np.log10(LRS) + 6) / 7
    diverged = np.append(falling[:-1], np.nan)
    assert argmin(LRS, diverged).lr == pytest.approx(LRS[-2])
