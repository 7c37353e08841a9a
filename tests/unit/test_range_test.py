import numpy as np
import pytest

from lrfinder.engine.recipe import recipe_of
from lrfinder.lr.range_test import COLUMNS, run_range_test
from lrfinder.lr.schedule import step_rates
from lrfinder.params import ModelSettings, RangeTestSettings
from tests.helpers import TINY, tiny_classification


@pytest.fixture(scope="module")
def data():
    return tiny_classification(1)


def test_batch_schedule_is_exponential_from_min_to_max():
    rates = step_rates(RangeTestSettings(min_lr=1e-5, max_lr=1.0, num_steps=11), 4)
    assert rates[0] == pytest.approx(1e-5) and rates[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(rates[1:] / rates[:-1], 10**0.5)


def test_epoch_schedule_is_the_tutorials():
    rates = step_rates(RangeTestSettings(sweep_mode="epoch", sweep_epochs=100), 4)
    assert len(rates) == 100 * 4
    assert rates[0] == pytest.approx(1e-3) and rates[4] == pytest.approx(1e-3 * 10 ** (1 / 30))
    assert rates[-1] == pytest.approx(1e-3 * 10 ** (99 / 30))


def test_batch_range_test_records_every_replica_until_it_diverges(data):
    x, y = data
    model = ModelSettings(n_seeds=3, seed=5, **TINY)
    settings = RangeTestSettings(min_lr=1e-4, max_lr=1e4, num_steps=80)
    result = run_range_test(
        x, y, recipe_of(model, x.shape[1]), model.seeds, settings, x_val=x, y_val=y
    )
    table, summary = result.table, result.summary
    assert list(table.columns) == COLUMNS
    assert sorted(table["seed"].unique()) == [5, 6, 7]
    assert summary["steps_run"] <= 80 and summary["device"].upper().endswith("CPU:0")
    for entry in summary["diverged"]:
        rows = table[table["replica"] == entry["replica"]]
        assert entry["step"] is not None, "a rate of 10,000 must diverge"
        assert rows["step"].max() == entry["step"]
        assert entry["lr"] == pytest.approx(rows["lr"].iloc[-1])
        assert np.isfinite(rows["loss"].iloc[:-1]).all()
    first = table[table["step"] == 0]
    np.testing.assert_allclose(first["smoothed_loss"], first["loss"], rtol=1e-6)
    assert table["val_loss"].isna().all()


def test_validation_sample_is_measured_every_10_steps(data):
    x, y = data
    model = ModelSettings(n_seeds=2, **TINY)
    settings = RangeTestSettings(min_lr=1e-5, max_lr=1e-3, num_steps=30, sweep_val_sample=50)
    result = run_range_test(
        x, y, recipe_of(model, x.shape[1]), model.seeds, settings, x_val=x, y_val=y
    )
    measured = result.table.dropna(subset=["val_loss"])
    assert sorted(measured["step"].unique()) == [9, 19, 29]
    assert result.summary["val_sample_rows"] == 50


def test_epoch_mode_reports_one_row_per_epoch(data):
    x, y = data
    model = ModelSettings(n_seeds=2, **TINY)
    result = run_range_test(
        x,
        y,
        recipe_of(model, x.shape[1]),
        model.seeds,
        RangeTestSettings(sweep_mode="epoch", sweep_epochs=3),
    )
    assert result.summary["steps_run"] == 3 * 8
    assert len(result.table) == 2 * 3
    np.testing.assert_allclose(
        result.table["lr"].unique(), [1e-3, 1e-3 * 10 ** (1 / 30), 1e-3 * 10 ** (2 / 30)]
    )
    assert all(entry["step"] is None for entry in result.summary["diverged"])
