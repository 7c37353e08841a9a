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
from lrfinder.params import SelectionSettings, TrainingProtocol
from lrfinder.training.fit import NO_VALIDATION_SPLIT, Fit, Paused, fit_grouped, fit_replicas


@dataclass(frozen=True)
class Selection:
    """The chosen rate with everything that led to it (`reporting.outputs.selection_record`
    makes `selection.json` of it): why, the method whose reading centred the choice and that
    reading (`center`), every reading, the warnings, the settings and the protocol the race
    ran under, and the confirmation (its race, whose `final` holds the final models' replicas,
    best epochs restored)."""

    chosen_lr: float
    reason: str
    method: str
    center: float
    aggregates: dict[str, Aggregate]
    warnings: tuple[str, ...]
    settings: SelectionSettings
    protocol: TrainingProtocol | None
    confirmation: Confirmation | None

    @property
    def chosen_replicas(self) -> list[list[np.ndarray]]:
        """Each seed's variables at the chosen rate (`to_keras` takes them); none unconfirmed."""
        if self.confirmation is None:
            return []
        final = self.confirmation.final
        return [final.states[k].variables for k in range(len(final.seeds) // 2)]

    def raced_models(self, protocol: TrainingProtocol, seeds: list[int]) -> Fit | None:
        """The race's final models (winner's replicas, then the baseline's) when it raced
        `seeds` under `protocol`; None when it did not, or there was no race."""
        race = self.confirmation
        if race is None or self.protocol != protocol or race.final.seeds != seeds * 2:
            return None
        return race.final

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
    protocol: TrainingProtocol | None,
    placement: Placement = HERE,
    data_warnings: tuple[str, ...] = (),
) -> Selection:
    """Suggest with every method on the smoothed curves, then confirm around
    `settings.suggest_method`'s aggregate in a race on the validation split (never the test
    split) under `protocol` (None only without a race), one replica of `recipe` per seed and
    rate, the baseline among them. `data_warnings` (what the data's size and balance make
    doubtful) come first among the warnings."""
    column = "smoothed_loss" if curves["smoothed_loss"].notna().any() else "loss"
    aggregates = suggest_table(curves, column)
    method, fallback = centre_method(aggregates, settings.suggest_method)
    center = aggregates[method].lr
    confirmation = None
    if settings.confirm:
        if len(x_val) == 0:
            raise ValueError(NO_VALIDATION_SPLIT)
        if protocol is None:
            raise ValueError("the confirmation's race needs the final training's protocol.")
        fixed = {"x": x, "y": y, "x_val": x_val, "y_val": y_val, "recipe": recipe}

        def train(
            rates: list[float], seeds: list[int], resume: list[Paused | None], until: int
        ) -> Fit:
            shared = {**fixed, "max_epochs": until, "patience": protocol.patience}
            return fit_grouped(fit_replicas, shared, rates, seeds, placement, {"resume": resume})

        baseline_lr = protocol.baseline_for(recipe.optimizer.default_lr)
        confirmation = confirm(center, seeds, settings, protocol, baseline_lr, train)
        chosen = confirmation.chosen_lr
        reason = (
            f"{confirmation.reason}; early stopping with patience {protocol.patience} on the "
            "validation split"
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
        protocol=protocol,
        confirmation=confirmation,
    )
