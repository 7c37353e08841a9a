"""On the shared wine data, the chosen rate holds up against an exhaustive fixed-rate grid."""

import numpy as np
import pytest

from lrfinder.data.cleaning import clean_wine
from lrfinder.data.sources import DataSource, SourceFile
from lrfinder.data.splitting import split_and_scale
from lrfinder.engine.recipe import recipe_of
from lrfinder.lr.confirm import summarize
from lrfinder.lr.range_test import run_range_test
from lrfinder.lr.selection import select_rate
from lrfinder.params import (
    ModelSettings,
    RangeTestSettings,
    SelectionSettings,
    SplitSettings,
    TrainingProtocol,
)
from lrfinder.training.fit import best_epochs, candidates_fit

EPOCHS, PATIENCE = 4, 2
pytestmark = pytest.mark.slow
GRID = np.geomspace(1e-4, 1.0, 9)
GRID_SEEDS = [100, 101, 102]


@pytest.fixture(scope="module")
def wine_split(wine_csv):
    source = DataSource((SourceFile(wine_csv, "unused"),), "test")
    return split_and_scale(clean_wine(source), SplitSettings())


def test_chosen_rate_is_within_3_percent_of_the_best_grid_rate(wine_split):
    x, y = wine_split.arrays("train")
    x_val, y_val = wine_split.arrays("val")
    sweep_model = ModelSettings(n_seeds=4)
    recipe = recipe_of(sweep_model, x.shape[1])
    curves = run_range_test(x, y, recipe, sweep_model.seeds, RangeTestSettings()).table
    settings = SelectionSettings(first_rung_epochs=EPOCHS)
    protocol = TrainingProtocol(max_epochs=EPOCHS, patience=PATIENCE, baseline_lr=None)
    selection = select_rate(curves, x, y, x_val, y_val, recipe, [0, 1, 2], settings, protocol)
    rates = np.append(GRID, selection.chosen_lr)
    recipe = recipe_of(ModelSettings(), x.shape[1])
    fit = candidates_fit(x, y, x_val, y_val, rates, GRID_SEEDS, recipe, EPOCHS, PATIENCE)
    table = best_epochs(fit)
    by_rate = summarize(table, "val_loss").set_index("lr")["median"]
    best_grid = by_rate.loc[GRID].min()
    chosen = by_rate.loc[selection.chosen_lr]
    assert chosen <= 1.03 * best_grid, (selection.chosen_lr, chosen, by_rate.to_dict())
