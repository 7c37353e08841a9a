"""Choose a learning rate: suggestions from the range-test curves, confirmed on validation data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrfinder.data.cleaning import frame_fingerprint
from lrfinder.engine.groups import HERE, Placement
from lrfinder.lr.confirm import Confirmation, confirm
from lrfinder.lr.suggest import Aggregate, suggest_table
from lrfinder.model.heads import BINARY, Head
from lrfinder.params import ModelSettings, SelectionSettings
from lrfinder.training.fit import train_candidates


@dataclass(frozen=True)
class Selection:
    """The chosen rate with everything that led to it (`summary` is `selection.json`)."""

    chosen_lr: float
    summary: dict
    aggregates: dict[str, Aggregate]
    confirmation: Confirmation | None

    @property
    def fingerprint(self) -> str:
        table = (
            self.confirmation.table if self.confirmation else pd.DataFrame({"lr": [self.chosen_lr]})
        )
        return f"{self.chosen_lr!r}:{frame_fingerprint(table)}"


def warnings_for(aggregates: dict[str, Aggregate]) -> list[str]:
    return [
        f"{name}: replicas disagree by {agg.spread:.1f}x (upper/lower quartile of their suggestions)"
        for name, agg in aggregates.items()
        if agg.disagree
    ]


def select_rate(
    curves: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    model: ModelSettings,
    settings: SelectionSettings,
    placement: Placement = HERE,
    head: Head = BINARY,
) -> Selection:
    """Suggest with every method on the smoothed curves, then confirm around
    `settings.suggest_method`'s aggregate on the validation split (never the test split),
    training the task's `head`."""
    column = "smoothed_loss" if curves["smoothed_loss"].notna().any() else "loss"
    aggregates = suggest_table(curves, column)
    center = aggregates[settings.suggest_method].lr
    confirmation = None
    if settings.confirm:
        recipe = model.recipe(x.shape[1], head)
        epochs, patience = settings.confirm_epochs, settings.confirm_patience

        def train(rates: np.ndarray) -> pd.DataFrame:
            return train_candidates(
                x, y, x_val, y_val, rates, model.seeds, recipe, epochs, patience, placement
            )

        confirmation = confirm(center, settings, train)
        chosen, reason = confirmation.chosen_lr, confirmation.reason
        reason += (
            f"; trained up to {settings.confirm_epochs} epochs with early stopping (patience "
            f"{settings.confirm_patience}) on the validation split"
        )
    else:
        chosen = center
        reason = (
            f"{settings.suggest_method} suggestion (median over {model.n_seeds} replicas), "
            "not confirmed"
        )
    summary = {
        "chosen_lr": chosen,
        "reason": reason,
        "method": settings.suggest_method,
        "suggestions": {
            name: {
                "lr": agg.lr,
                "spread": agg.spread,
                "disagree": agg.disagree,
                "per_replica": agg.per_replica,
            }
            for name, agg in aggregates.items()
        },
        "warnings": warnings_for(aggregates),
        "config": settings.model_dump(),
        "confirmation": None
        if confirmation is None
        else {
            "center": center,
            "extensions": confirmation.extensions,
            "by_rate": confirmation.by_rate.to_dict("records"),
            "runs": confirmation.table.to_dict("records"),
        },
    }
    return Selection(chosen, summary, aggregates, confirmation)
