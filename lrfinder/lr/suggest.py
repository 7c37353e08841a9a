"""Learning-rate suggestions from range-test curves: pure functions of (lrs, losses)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_POINTS = 10
WARMUP_FRACTION = 0.1
DISAGREEMENT = 4.0


@dataclass(frozen=True)
class Suggestion:
    """A suggested rate and the curve point (index into the input arrays) it was read from."""

    method: str
    lr: float
    index: int
    loss: float


def usable_window(lrs: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """Indices worth judging: finite points, without the warm-up head (first 10 %) and without
    the divergent tail (from the first point after the minimum that is worse than the start)."""
    lrs, losses = np.asarray(lrs, float), np.asarray(losses, float)
    if lrs.shape != losses.shape or lrs.ndim != 1:
        raise ValueError(
            f"lrs and losses must be 1-D and equal in length, got {lrs.shape}, {losses.shape}"
        )
    finite = np.flatnonzero(np.isfinite(lrs) & np.isfinite(losses) & (lrs > 0))
    if len(finite) < MIN_POINTS:
        raise ValueError(
            f"curve too short to judge: {len(finite)} finite points (need {MIN_POINTS}). "
            "Fix: run more steps (num_steps) or start from a lower min_lr."
        )
    kept = finite[int(len(finite) * WARMUP_FRACTION) :]
    values = losses[kept]
    lowest = int(np.argmin(values))
    worse = np.flatnonzero((np.arange(len(kept)) > lowest) & (values > values[0]))
    if len(worse):
        kept = kept[: worse[0]]
    if len(kept) < MIN_POINTS // 2:
        raise ValueError(
            f"curve too short to judge: {len(kept)} points between warm-up and divergence. "
            "Fix: run more steps (num_steps) or start from a lower min_lr."
        )
    return kept


def _suggestion(
    method: str, lrs: np.ndarray, losses: np.ndarray, index: int, lr: float | None = None
) -> Suggestion:
    return Suggestion(
        method, float(lrs[index] if lr is None else lr), int(index), float(losses[index])
    )


def argmin(lrs: np.ndarray, losses: np.ndarray) -> Suggestion:
    """The rate at the lowest loss: the tutorial's choice, kept for comparison."""
    window = usable_window(lrs, losses)
    return _suggestion("argmin", lrs, losses, int(window[np.argmin(np.asarray(losses)[window])]))


def minimum_tenth(lrs: np.ndarray, losses: np.ndarray) -> Suggestion:
    """A tenth of the rate at the lowest loss."""
    best = argmin(lrs, losses)
    return Suggestion("minimum/10", best.lr / 10, best.index, best.loss)


def steepest(lrs: np.ndarray, losses: np.ndarray) -> Suggestion:
    """The most negative slope of the loss against log10(rate), before the minimum."""
    window = usable_window(lrs, losses)
    values = np.asarray(losses, float)[window]
    logs = np.log10(np.asarray(lrs, float)[window])
    upto = int(np.argmin(values)) + 1
    if upto < 2:
        return _suggestion("steepest", lrs, losses, int(window[0]))
    slope = np.gradient(values[:upto], logs[:upto])
    return _suggestion("steepest", lrs, losses, int(window[int(np.argmin(slope))]))


def valley(lrs: np.ndarray, losses: np.ndarray) -> Suggestion:
    """About halfway into the longest decreasing stretch of the curve: its length is that of the
    longest decreasing subsequence, counted back from where it ends (so a flat or noisy head
    does not stretch it); far enough down to learn fast, well before the unstable minimum."""
    window = usable_window(lrs, losses)
    values = np.asarray(losses, float)[window]
    n = len(values)
    length = np.ones(n, int)
    for i in range(1, n):
        lower = np.flatnonzero(values[:i] > values[i])
        if len(lower):
            length[i] = length[lower].max() + 1
    end = int(np.argmax(length))
    middle = end - length[end] // 2
    return _suggestion("valley", lrs, losses, int(window[middle]))


METHODS: dict[str, Callable[[np.ndarray, np.ndarray], Suggestion]] = {
    "valley": valley,
    "steepest": steepest,
    "minimum/10": minimum_tenth,
    "argmin": argmin,
}


@dataclass(frozen=True)
class Aggregate:
    """A method's suggestions across replicas: median on a log scale and the quartile ratio."""

    method: str
    lr: float
    spread: float
    per_replica: list[float]

    @property
    def disagree(self) -> bool:
        return self.spread > DISAGREEMENT


def aggregate(method: str, rates: list[float]) -> Aggregate:
    logs = np.log10(np.asarray(rates, float))
    q25, q50, q75 = np.percentile(logs, [25, 50, 75])
    return Aggregate(method, float(10**q50), float(10 ** (q75 - q25)), [float(r) for r in rates])


def suggest_table(table: pd.DataFrame, column: str = "smoothed_loss") -> dict[str, Aggregate]:
    """Every method on every replica's curve of a range-test table, aggregated per method.
    Replicas whose curve is too short to judge are left out; if all are, the error says so."""
    per_method: dict[str, list[float]] = {name: [] for name in METHODS}
    problems = []
    for replica, curve in table.groupby("replica"):
        try:
            found = {
                name: fn(curve["lr"].to_numpy(), curve[column].to_numpy())
                for name, fn in METHODS.items()
            }
        except ValueError as exc:
            problems.append(f"replica {replica}: {exc}")
            continue
        for name, suggestion in found.items():
            per_method[name].append(suggestion.lr)
    if not per_method["valley"]:
        raise ValueError("no replica's curve can be judged: " + "; ".join(problems))
    return {name: aggregate(name, rates) for name, rates in per_method.items()}
