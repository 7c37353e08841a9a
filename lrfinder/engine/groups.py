"""Replica groups: a stage's replicas split into contiguous groups, each trained as one vectorized
engine wherever `map_groups` sends it (in turn here; threads, Dask or Ray workers from the task
layer), and the pieces merged back in replica order."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# A group function trains one group: it takes the keyword arguments of one call (plus
# `on_progress`) and returns that group's result.
GroupFn = Callable[..., Any]
GroupMap = Callable[[GroupFn, list[dict[str, Any]]], list[Any]]
Progress = Callable[[int, int, int], None]


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


def group_name(fn: GroupFn) -> str:
    """A group function's short name for logs and task-run names: `fit_replicas` -> `fit`."""
    return fn.__name__.removesuffix("_group").removesuffix("_replicas")


def run_locally(
    fn: GroupFn, calls: list[dict[str, Any]], on_progress: Progress | None = None
) -> list[Any]:
    """The in-process map: each group in turn, reporting progress per group."""
    return [fn(**call, on_progress=on_progress) for call in calls]


@dataclass(frozen=True)
class Placement:
    """Where a stage's replica groups run: how they are grouped, the map that runs them (a task
    runner's, from the task layer; by default each in turn, here, reporting to `on_progress`)."""

    grouping: Grouping = DEFAULT_GROUPING
    map_groups: GroupMap | None = None
    on_progress: Progress | None = None

    def run(self, fn: GroupFn, calls: list[dict[str, Any]]) -> list[Any]:
        if self.map_groups is not None:
            return self.map_groups(fn, calls)
        return run_locally(fn, calls, self.on_progress)


HERE = Placement()
