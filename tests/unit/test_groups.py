import numpy as np
import pandas as pd
import pytest

from lrfinder.groups import merge_fits, split_groups
from lrfinder.range_config import RangeTestConfig
from lrfinder.range_test import range_test_group, run_range_test
from lrfinder.train_config import Fit
from lrfinder.training import fit_grouped, fit_replicas
from tests.helpers import TINY, tiny_classification


@pytest.fixture(scope="module")
def data():
    return tiny_classification(3)


def test_split_groups_covers_every_item_once_in_order():
    assert split_groups(7, 3) == [range(0, 2), range(2, 5), range(5, 7)]
    assert split_groups(16, 8) == [range(0, 8), range(8, 16)]
    assert split_groups(2, 5) == [range(0, 2)]
    assert split_groups(3, 1) == [range(0, 1), range(1, 2), range(2, 3)]
    with pytest.raises(ValueError, match="group size"):
        split_groups(3, 0)


def _fit(n: int, first_seed: int) -> Fit:
    weights = [np.full((n, 2, 3), first_seed, "float32"), np.full((n, 3), first_seed, "float32")]
    history = pd.DataFrame({"replica": list(range(n)), "epoch": [0] * n})
    seeds = list(range(first_seed, first_seed + n))
    return Fit(weights, [0.1] * n, seeds, history, [1] * n)


def test_merge_fits_stacks_replicas_and_renumbers_history():
    merged = merge_fits([_fit(2, 0), _fit(3, 2)])
    assert merged.seeds == [0, 1, 2, 3, 4]
    assert [w.shape for w in merged.weights] == [(5, 2, 3), (5, 3)]
    assert merged.weights[0][:, 0, 0].tolist() == [0, 0, 2, 2, 2]
    assert merged.history["replica"].tolist() == [0, 1, 2, 3, 4]
    assert merged.epochs == [1] * 5


def test_grouped_range_test_is_the_groups_run_alone_merged(data):
    x, y = data
    config = RangeTestConfig(
        min_lr=1e-4, max_lr=10.0, num_steps=60, n_seeds=3, group_size=2, **TINY
    )
    merged = run_range_test(x, y, config)
    first = range_test_group(x, y, config, replicas=range(0, 2))
    second = range_test_group(x, y, config, replicas=range(2, 3))
    expected = pd.concat([first.table, second.table]).reset_index(drop=True)
    pd.testing.assert_frame_equal(merged.table, expected)
    assert merged.table["seed"].drop_duplicates().tolist() == [0, 1, 2]
    assert [d["replica"] for d in merged.summary["diverged"]] == [0, 1, 2]
    assert merged.summary["steps_run"] == merged.table["step"].max() + 1


def test_grouping_changes_no_replica_beyond_float_rounding(data):
    x, y = data
    config = RangeTestConfig(min_lr=1e-4, max_lr=1e-2, num_steps=20, n_seeds=4, **TINY)
    whole = run_range_test(x, y, config).table
    split = run_range_test(x, y, RangeTestConfig(**{**config.__dict__, "group_size": 2})).table
    np.testing.assert_allclose(split["loss"], whole["loss"], rtol=1e-5)


def test_grouped_fit_is_the_groups_fitted_alone(data):
    x, y = data
    shared = {"x": x[:80], "y": y[:80], "x_val": x[80:], "y_val": y[80:], **TINY}
    budget = {"max_epochs": 3, "patience": 1}
    rates, seeds = [1e-3, 1e-2, 1e-3], [4, 5, 6]
    merged = fit_grouped("fit", {**shared, **budget}, rates, seeds, group_size=2)
    alone = fit_replicas(**shared, **budget, rates=rates[2:], seeds=seeds[2:], sample_seed=seeds[0])
    for stacked, own in zip(merged.weights, alone.weights, strict=True):
        np.testing.assert_array_equal(stacked[2:], own)
    assert merged.seeds == seeds and merged.rates == rates
    assert sorted(merged.history["replica"].unique()) == [0, 1, 2]
