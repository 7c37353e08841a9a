"""The confirmation's logic: candidate rates around a suggestion, extended while the best sits at
an edge; the best median across seeds wins. Training is passed in as `train_candidates`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from lrfinder.params import SelectionSettings

Metric = Literal["val_loss", "val_accuracy"]
LOWER_IS_BETTER = {"val_loss": True, "val_accuracy": False}
RATE_BOUNDS = (1e-7, 10.0)


def candidate_rates(center: float, settings: SelectionSettings) -> np.ndarray:
    return np.geomspace(
        center * settings.confirm_low_factor,
        center * settings.confirm_high_factor,
        settings.confirm_candidates,
    )


def summarize(table: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """Per rate: median and quartiles of `metric` across seeds, sorted by rate."""
    grouped = table.groupby("lr")[metric]
    return pd.DataFrame(
        {
            "median": grouped.median(),
            "q25": grouped.quantile(0.25),
            "q75": grouped.quantile(0.75),
            "seeds": grouped.size(),
        }
    ).reset_index()


def best_rate(by_rate: pd.DataFrame, metric: Metric) -> float:
    ordered = by_rate.sort_values("median", ascending=LOWER_IS_BETTER[metric], kind="stable")
    return float(ordered["lr"].iloc[0])


def lowest_tied_rate(by_rate: pd.DataFrame, metric: Metric, tolerance: float) -> float:
    """The lowest rate whose median is within `tolerance` (a fraction) of the best median: a
    few epochs favour faster rates, and full-length training does not reward them for it."""
    best = by_rate.loc[by_rate["lr"] == best_rate(by_rate, metric), "median"].iloc[0]
    if LOWER_IS_BETTER[metric]:
        tied = by_rate["median"] <= best + tolerance * abs(best)
    else:
        tied = by_rate["median"] >= best - tolerance * abs(best)
    return float(by_rate.loc[tied, "lr"].min())


def _edge_note(chosen: float, best: float, by_rate: pd.DataFrame) -> str:
    if chosen in (by_rate["lr"].min(), by_rate["lr"].max()):
        return " and still at the edge of the set"
    if best == by_rate["lr"].max():
        return ", the best median still at the top of the set"
    return ""


@dataclass(frozen=True)
class Confirmation:
    table: pd.DataFrame
    by_rate: pd.DataFrame
    chosen_lr: float
    extensions: int
    reason: str


def confirm(
    center: float,
    settings: SelectionSettings,
    train_candidates: Callable[[np.ndarray], pd.DataFrame],
) -> Confirmation:
    """Train the candidates around `center` with `train_candidates(rates)` (one row per rate and
    seed) and choose the lowest rate tied with the best median (`lowest_tied_rate`); while that
    rate is the lowest of the set, or the best median the highest, add two more rates beyond that
    edge (at most `confirm_extensions` times, within 1e-7..10)."""
    metric = settings.confirm_metric
    rates = candidate_rates(center, settings)
    step = rates[1] / rates[0]
    table = train_candidates(rates)
    extensions = 0
    while True:
        by_rate = summarize(table, metric)
        best = best_rate(by_rate, metric)
        chosen = lowest_tied_rate(by_rate, metric, settings.confirm_tolerance)
        lowest, highest = by_rate["lr"].min(), by_rate["lr"].max()
        at_edge = chosen == lowest or best == highest
        if not at_edge or extensions >= settings.confirm_extensions:
            break
        direction, edge = (-1.0, chosen) if chosen == lowest else (1.0, best)
        more = edge * step ** (direction * np.arange(1, 3))
        more = more[(more >= RATE_BOUNDS[0]) & (more <= RATE_BOUNDS[1])]
        if len(more) == 0:
            break
        table = pd.concat([table, train_candidates(more)], ignore_index=True)
        extensions += 1
    row = by_rate[by_rate["lr"] == chosen].iloc[0]
    better = "lowest" if LOWER_IS_BETTER[metric] else "highest"
    what = (
        f"{better} median {metric}"
        if chosen == best
        else f"lowest rate within {settings.confirm_tolerance:.1%} of the best median {metric} "
        f"(at lr {best:.3g}), median"
    )
    reason = (
        f"{what} ({row['median']:.4f}, quartiles {row['q25']:.4f}-{row['q75']:.4f}, "
        f"{int(row['seeds'])} seeds) at lr {chosen:.3g} among {len(by_rate)} candidates from "
        f"{by_rate['lr'].min():.3g} to {by_rate['lr'].max():.3g} around {center:.3g}, after "
        f"{extensions} extension(s)" + _edge_note(chosen, best, by_rate)
    )
    return Confirmation(table, by_rate, chosen, extensions, reason)
