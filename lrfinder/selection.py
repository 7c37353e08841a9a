"""Choose a learning rate: suggestions from the range-test curves, confirmed on validation data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lrfinder.cleaning import frame_fingerprint
from lrfinder.confirm import Confirmation, confirm
from lrfinder.groups import DEFAULT_GROUPING, Grouping, GroupMap
from lrfinder.select_config import SelectConfig
from lrfinder.suggest import Aggregate, suggest_table
from lrfinder.training import evaluate_rates


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
    seeds: list[int],
    hidden: tuple[int, ...],
    batch_size: int,
    config: SelectConfig,
    grouping: Grouping = DEFAULT_GROUPING,
    map_groups: GroupMap | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> Selection:
    """Suggest with every method on the smoothed curves, then confirm around `config.method`'s
    aggregate on the validation split (never the test split)."""
    column = "smoothed_loss" if curves["smoothed_loss"].notna().any() else "loss"
    aggregates = suggest_table(curves, column)
    center = aggregates[config.method].lr
    confirmation = None
    if config.confirm:
        budget = config.confirmation

        def evaluate(rates: np.ndarray) -> pd.DataFrame:
            return evaluate_rates(
                x, y, x_val, y_val, rates, seeds, budget.epochs, budget.patience, hidden,
                batch_size, grouping, map_groups, on_progress,
            )  # fmt: skip

        confirmation = confirm(center, budget, evaluate)
        chosen, reason = confirmation.chosen_lr, confirmation.reason
        reason += (
            f"; trained up to {budget.epochs} epochs with early stopping (patience "
            f"{budget.patience}) on the validation split"
        )
    else:
        chosen = center
        reason = f"{config.method} suggestion (median over {len(seeds)} replicas), not confirmed"
    summary = {
        "chosen_lr": chosen,
        "reason": reason,
        "method": config.method,
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
        "config": asdict(config),
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
