"""Replica groups: a stage's replicas split into contiguous groups, each trained as one vectorized
engine wherever `map_groups` sends it (in turn here; threads, Dask or Ray workers from the task
layer), and the pieces merged back in replica order."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from lrfinder.train_config import Fit

Kind = Literal["range_test", "fit", "refit"]
GroupMap = Callable[[Kind, list[dict[str, Any]]], list[Any]]


@dataclass(frozen=True)
class Grouping:
    """How a training stage's replicas meet the engine. Every engine has the same number of slots
    (the largest group of a near-equal split into groups of at most `size`), so each replica's
    numbers are the same wherever it ran. By default all replicas queue for one engine's slots, a
    slot freed by a finished replica taking the next one; `spread` makes one group per engine-full
    instead, for a cluster's workers to run side by side."""

    size: int = 8
    spread: bool = False

    def plan(self, n_items: int) -> tuple[list[range], int]:
        """The groups (contiguous replica ranges) and the slots of each group's engine."""
        groups = split_groups(n_items, self.size)
        slots = max(len(group) for group in groups)
        return (groups if self.spread else [range(n_items)]), slots


DEFAULT_GROUPING = Grouping()


def split_groups(n_items: int, max_size: int) -> list[range]:
    """Contiguous ranges of at most `max_size` items covering 0..n_items-1, as few as that
    allows and near-equal in size."""
    if n_items < 1 or max_size < 1:
        raise ValueError(
            f"need at least one item and a group size >= 1, got {n_items}, {max_size}."
        )
    n_groups = math.ceil(n_items / max_size)
    bounds = np.linspace(0, n_items, n_groups + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def run_group(kind: Kind, call: dict[str, Any]) -> Any:
    """Train one group: `call` holds the keyword arguments of the group-level function."""
    if kind == "range_test":
        from lrfinder.range_test import range_test_group

        return range_test_group(**call)
    from lrfinder.training import fit_replicas, refit_replicas

    if kind == "fit":
        return fit_replicas(**call)
    if kind == "refit":
        return refit_replicas(**call)
    raise ValueError(f"unknown replica-group kind {kind!r}")


def run_locally(
    kind: Kind, calls: list[dict[str, Any]], on_progress: Callable | None = None
) -> list[Any]:
    """The in-process map: each group in turn, reporting progress per group."""
    return [run_group(kind, {**call, "on_progress": on_progress}) for call in calls]


def merge_fits(fits: list[Fit]) -> Fit:
    """One Fit from the groups' Fits, in order; replica numbers continue across groups."""
    if len(fits) == 1:
        return fits[0]
    histories, offset = [], 0
    for fit in fits:
        history = fit.history.copy()
        if len(history):
            history["replica"] += offset
        histories.append(history)
        offset += len(fit.seeds)
    return Fit(
        weights=[np.concatenate(layer) for layer in zip(*(f.weights for f in fits), strict=True)],
        rates=[rate for f in fits for rate in f.rates],
        seeds=[seed for f in fits for seed in f.seeds],
        history=pd.concat(histories, ignore_index=True),
        epochs=[epoch for f in fits for epoch in f.epochs],
    )
