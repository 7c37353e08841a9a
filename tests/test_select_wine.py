"""On the shared wine data, the chosen rate holds up against an exhaustive fixed-rate grid."""

import numpy as np
import pytest

from lrfinder.cleaning import clean_wine
from lrfinder.confirm import ConfirmConfig, summarize
from lrfinder.range_config import RangeTestConfig
from lrfinder.range_test import run_range_test
from lrfinder.select_config import SelectConfig
from lrfinder.selection import select_rate
from lrfinder.sources import DataSource, SourceFile
from lrfinder.splitting import SplitConfig, split_and_scale
from lrfinder.training import evaluate_rates

EPOCHS, PATIENCE = 4, 2
HIDDEN, BATCH = (128, 256, 256), 32
GRID = np.geomspace(1e-4, 1.0, 9)
GRID_SEEDS = [100, 101, 102]


@pytest.fixture(scope="module")
def wine_split(wine_csv):
    source = DataSource((SourceFile(wine_csv, "unused"),), "test")
    return split_and_scale(clean_wine(source), SplitConfig())


def test_chosen_rate_is_within_3_percent_of_the_best_grid_rate(wine_split):
    x, y = wine_split.arrays("train")
    x_val, y_val = wine_split.arrays("val")
    sweep_config = RangeTestConfig(n_seeds=4)
    curves = run_range_test(x, y, sweep_config).table
    config = SelectConfig(confirmation=ConfirmConfig(epochs=EPOCHS, patience=PATIENCE))
    selection = select_rate(curves, x, y, x_val, y_val, [0, 1, 2], HIDDEN, BATCH, config)
    assert selection.summary["chosen_lr"] == selection.chosen_lr
    rates = np.append(GRID, selection.chosen_lr)
    table = evaluate_rates(x, y, x_val, y_val, rates, GRID_SEEDS, EPOCHS, PATIENCE, HIDDEN, BATCH)
    by_rate = summarize(table, "val_loss").set_index("lr")["median"]
    best_grid = by_rate.loc[GRID].min()
    chosen = by_rate.loc[selection.chosen_lr]
    assert chosen <= 1.03 * best_grid, (selection.chosen_lr, chosen, by_rate.to_dict())
