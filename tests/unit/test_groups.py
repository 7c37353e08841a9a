import numpy as np
import pandas as pd
import pytest

from lrfinder.engine.groups import Grouping, Placement, split_groups
from lrfinder.engine.recipe import recipe_of
from lrfinder.engine.replicas import ReplicaState
from lrfinder.lr.range_test import range_test_group, run_range_test
from lrfinder.params import ModelSettings, RangeTestSettings
from lrfinder.training.fit import Fit, fit_grouped, fit_replicas, merge_fits, refit_replicas
from tests.helpers import TINY, recipe, tiny_classification

RECIPE = recipe(4)


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


def test_grouping_plans_equal_slots_and_queues_unless_spread():
    assert Grouping(3).plan(7) == ([range(0, 7)], 3)
    assert Grouping(3, spread=True).plan(7) == ([range(0, 2), range(2, 5), range(5, 7)], 3)
    assert Grouping(8).plan(5) == ([range(0, 5)], 5)


def _fit(n: int, first_seed: int) -> Fit:
    states = [ReplicaState([np.full((2, 3), seed, "float32")], [], []) for seed in range(n)]
    history = pd.DataFrame({"replica": list(range(n)), "epoch": [0] * n})
    seeds = list(range(first_seed, first_seed + n))
    return Fit(states, [0.1] * n, seeds, history, [1] * n)


def assert_same_states(ours: list[ReplicaState], theirs: list[ReplicaState]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        for x, y in zip(a.variables + a.optimizer, b.variables + b.optimizer, strict=True):
            np.testing.assert_array_equal(x, y)


def test_merge_fits_stacks_replicas_and_renumbers_history():
    merged = merge_fits([_fit(2, 0), _fit(3, 2)])
    assert merged.seeds == [0, 1, 2, 3, 4]
    assert [s.trainable[0][0, 0] for s in merged.states] == [0, 1, 0, 1, 2]
    assert merged.history["replica"].tolist() == [0, 1, 2, 3, 4]
    assert merged.epochs == [1] * 5


def test_grouped_range_test_is_the_groups_run_alone_merged(data):
    x, y = data
    model = ModelSettings(n_seeds=3, **TINY)
    settings = RangeTestSettings(min_lr=1e-4, max_lr=10.0, num_steps=60)
    merged = run_range_test(
        x, y, recipe_of(model, x.shape[1]), model.seeds, settings, placement=Placement(Grouping(2))
    )
    empty = np.zeros((0, 0), "float32"), np.zeros(0, "float32")
    first = range_test_group(x, y, RECIPE, settings, [0, 1], range(0, 2), *empty)
    second = range_test_group(x, y, RECIPE, settings, [2], range(2, 3), *empty)
    expected = pd.concat([first.table, second.table]).reset_index(drop=True)
    pd.testing.assert_frame_equal(merged.table, expected)
    assert merged.table["seed"].drop_duplicates().tolist() == [0, 1, 2]
    assert [d["replica"] for d in merged.summary["diverged"]] == [0, 1, 2]
    assert merged.summary["steps_run"] == merged.table["step"].max() + 1


def test_grouping_changes_no_replica_beyond_float_rounding(data):
    x, y = data
    model = ModelSettings(n_seeds=4, **TINY)
    settings = RangeTestSettings(min_lr=1e-4, max_lr=1e-2, num_steps=20)
    whole = run_range_test(x, y, recipe_of(model, x.shape[1]), model.seeds, settings).table
    split = run_range_test(
        x, y, recipe_of(model, x.shape[1]), model.seeds, settings, placement=Placement(Grouping(2))
    ).table
    np.testing.assert_allclose(split["loss"], whole["loss"], rtol=1e-5)


def test_grouped_fit_is_the_groups_fitted_alone(data):
    x, y = data
    shared = {"x": x[:80], "y": y[:80], "x_val": x[80:], "y_val": y[80:], "recipe": RECIPE}
    budget = {"max_epochs": 3, "patience": 1}
    rates, seeds = [1e-3, 1e-2, 1e-3], [4, 5, 6]
    spread = Placement(Grouping(2, spread=True))
    merged = fit_grouped(fit_replicas, {**shared, **budget}, rates, seeds, spread)
    alone = fit_replicas(**shared, **budget, rates=rates[2:], seeds=seeds[2:], slots=2)
    assert_same_states(merged.states[2:], alone.states)
    assert merged.seeds == seeds and merged.rates == rates
    assert sorted(merged.history["replica"].unique()) == [0, 1, 2]


@pytest.mark.parametrize("kind", [fit_replicas, refit_replicas])
def test_one_queue_gives_every_replica_the_numbers_of_spread_groups(data, kind):
    x, y = data
    rates, seeds = [3e-2, 1e-3, 1e-2, 3e-3, 1e-3], [4, 5, 6, 7, 8]
    if kind is fit_replicas:
        shared = {"x": x[:80], "y": y[:80], "x_val": x[80:], "y_val": y[80:], "recipe": RECIPE}
        shared |= {"max_epochs": 8, "patience": 1}
        epochs = None
    else:
        shared, epochs = {"x": x, "y": y, "recipe": RECIPE}, [3, 1, 4, 2, 1]
    per_replica = None if epochs is None else {"epochs": epochs}
    queued = fit_grouped(kind, shared, rates, seeds, Placement(Grouping(2)), per_replica)
    spread = fit_grouped(
        kind, shared, rates, seeds, Placement(Grouping(2, spread=True)), per_replica
    )
    assert queued.epochs == spread.epochs
    if kind is fit_replicas:
        assert len(set(queued.epochs)) > 1, "replicas must stop at different epochs"
    assert_same_states(queued.states, spread.states)
    order = ["replica", "epoch"]
    pd.testing.assert_frame_equal(
        queued.history.sort_values(order, ignore_index=True),
        spread.history.sort_values(order, ignore_index=True),
    )


def test_a_freed_slot_takes_the_next_replica(data):
    x, y = data
    reports = []
    refit = refit_replicas(
        x,
        y,
        [1e-3] * 4,
        [1, 2, 3, 4],
        RECIPE,
        [3, 1, 1, 3],
        slots=2,
        on_progress=lambda *report: reports.append(report),
    )
    assert refit.history.groupby("replica")["epoch"].count().tolist() == [3, 1, 1, 3]
    assert len(reports) == 4, "two slots: 3 epochs for the long pair, then 1 for the short one"
    steps = 8 * RECIPE.steps_per_epoch(len(x))  # replica-steps of 8 replica-epochs
    assert reports[-1] == (steps, steps, 0)
