"""Choose a learning rate: suggestions from the range-test curves, confirmed on validation data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrfinder.data.cleaning import frame_fingerprint
from lrfinder.engine.groups import HERE, Placement
from lrfinder.engine.recipe import Recipe
from lrfinder.lr.confirm import Confirmation, confirm
from lrfinder.lr.suggest import Aggregate, flat_curves_warning, suggest_table
from lrfinder.params import SelectionSettings
from lrfinder.training.fit import best_epochs, candidates_fit


@dataclass(frozen=True)
class Selection:
    """The chosen rate with everything that led to it (`reporting.outputs.selection_record`
    makes `selection.json` of it): why, the method whose reading centred the choice and that
    reading (`center`), every reading, the warnings, the settings, the confirmation's runs and,
    when confirmed, the variables of each seed's replica at the chosen rate, best epoch
    restored (`to_keras` takes them)."""

    chosen_lr: float
    reason: str
    method: str
    center: float
    aggregates: dict[str, Aggregate]
    warnings: tuple[str, ...]
    settings: SelectionSettings
    confirmation: Confirmation | None
    chosen_replicas: tuple[list[np.ndarray], ...] = ()

    @property
    def fingerprint(self) -> str:
        table = (
            self.confirmation.table if self.confirmation else pd.DataFrame({"lr": [self.chosen_lr]})
        )
        return f"{self.chosen_lr!r}:{frame_fingerprint(table)}"


def warnings_for(aggregates: dict[str, Aggregate]) -> list[str]:
    """The curve readings' problems: replicas that disagree, and replicas with no reading."""
    found = []
    for name, agg in aggregates.items():
        if agg.disagree:
            found.append(
                f"{name}: replicas disagree by {agg.spread:.1f}x (upper/lower quartile of their "
                "suggestions)"
            )
        if agg.no_reading:
            found.append(f"{name}: no reading on {agg.no_reading}")
    return found


def centre_method(aggregates: dict[str, Aggregate], asked: str) -> tuple[str, str | None]:
    """The method whose reading centres the selection: the one asked for, or, when it read no
    replica's curve, the first method that did (with a warning that says so)."""
    if aggregates[asked].read:
        return asked, None
    used = next(name for name, agg in aggregates.items() if agg.read)
    return used, f"{asked} read no replica's curve, so {used}'s reading is used instead"


def select_rate(
    curves: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    recipe: Recipe,
    seeds: list[int],
    settings: SelectionSettings,
    placement: Placement = HERE,
    data_warnings: tuple[str, ...] = (),
) -> Selection:
    """Suggest with every method on the smoothed curves, then confirm around
    `settings.suggest_method`'s aggregate on the validation split (never the test split),
    training one replica of `recipe` per seed and candidate. `data_warnings` (what the data's
    size and balance make doubtful) come first among the warnings."""
    column = "smoothed_loss" if curves["smoothed_loss"].notna().any() else "loss"
    aggregates = suggest_table(curves, column)
    method, fallback = centre_method(aggregates, settings.suggest_method)
    center = aggregates[method].lr
    confirmation = None
    chosen_replicas: tuple[list[np.ndarray], ...] = ()
    if settings.confirm:
        epochs, patience = settings.confirm_epochs, settings.confirm_patience
        trained: list[tuple[float, list[np.ndarray]]] = []  # (rate, variables), no optimizer

        def train(rates: np.ndarray) -> pd.DataFrame:
            fit = candidates_fit(
                x, y, x_val, y_val, rates, seeds, recipe, epochs, patience, placement
            )
            trained.extend(zip(fit.rates, (state.variables for state in fit.states), strict=True))
            return best_epochs(fit)

        confirmation = confirm(center, settings, train)
        chosen, reason = confirmation.chosen_lr, confirmation.reason
        chosen_replicas = tuple(variables for rate, variables in trained if rate == chosen)
        reason += (
            f"; trained up to {settings.confirm_epochs} epochs with early stopping (patience "
            f"{settings.confirm_patience}) on the validation split"
        )
    else:
        chosen = center
        reason = f"{method} suggestion (median over {len(seeds)} replicas), not confirmed"
    warnings = (
        *data_warnings,
        *([flat] if (flat := flat_curves_warning(curves, column)) else []),
        *warnings_for(aggregates),
        *([fallback] if fallback else []),
    )
    return Selection(
        chosen_lr=chosen,
        reason=reason,
        method=method,
        center=center,
        aggregates=aggregates,
        warnings=warnings,
        settings=settings,
        confirmation=confirmation,
        chosen_replicas=chosen_replicas,
    )
