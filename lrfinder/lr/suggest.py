"""Learning-rate suggestions from range-test curves: pure functions of (lrs, losses)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrfinder.errors import DataError
from lrfinder.names import SUGGESTION_METHODS

MIN_POINTS = 10
WARMUP_FRACTION = 0.1
DISAGREEMENT = 4.0
EDGE_FRACTION = 0.03  # a minimum in the last 3 % of the curve's points sits at the range's edge
MIN_DROP = 0.01  # a curve whose loss never falls by 1 % of its start is flat


class NoReading(ValueError):
    """This method reads nothing on this curve; the message says why and what to change."""


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


def never_fell(lrs: np.ndarray, losses: np.ndarray) -> bool:
    """Whether the loss never fell by MIN_DROP of where the usable window starts: a curve so
    flat that its readings are guesses."""
    window = usable_window(lrs, losses)
    values = np.asarray(losses, float)[window]
    return bool(values.min() > values[0] - MIN_DROP * abs(values[0]))


def _suggestion(
    method: str, lrs: np.ndarray, losses: np.ndarray, index: int, lr: float | None = None
) -> Suggestion:
    return Suggestion(
        method, float(lrs[index] if lr is None else lr), int(index), float(losses[index])
    )


def argmin(lrs: np.ndarray, losses: np.ndarray) -> Suggestion:
    """The rate at the lowest loss: the tutorial's choice, kept for comparison. No reading when
    the lowest loss sits at the range's end (the curve never turned up)."""
    window = usable_window(lrs, losses)
    index = int(window[np.argmin(np.asarray(losses)[window])])
    finite = np.flatnonzero(np.isfinite(np.asarray(losses, float)))
    # A curve that ends in non-finite losses diverged; one that ends finite at its lowest did not.
    ends_finite = finite[-1] == len(losses) - 1
    if ends_finite and index >= finite[-1] - int(len(finite) * EDGE_FRACTION):
        raise NoReading(
            f"the loss was still at its lowest at the last rate tried ({float(lrs[index]):.3g}): "
            "the range test never diverged, so its minimum is the range's edge, not a rate to "
            "use. Fix: raise --max-lr (or --sweep-epochs in epoch mode)"
        )
    return _suggestion("argmin", lrs, losses, index)


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


FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], Suggestion]] = {
    "valley": valley,
    "steepest": steepest,
    "minimum/10": minimum_tenth,
    "argmin": argmin,
}
# In the order the settings name them; a name without a function fails here, at import.
METHODS = {name: FUNCTIONS[name] for name in SUGGESTION_METHODS}


@dataclass(frozen=True)
class Aggregate:
    """A method's suggestions across replicas: median on a log scale and the quartile ratio."""

    method: str
    lr: float
    spread: float
    per_replica: list[float]
    no_reading: str | None = None

    @property
    def disagree(self) -> bool:
        return self.spread > DISAGREEMENT

    @property
    def read(self) -> bool:
        """Whether any replica's curve gave this method a rate."""
        return bool(self.per_replica)

    @property
    def suggested(self) -> float | None:
        """The median rate; None where no replica's curve gave one."""
        return self.lr if self.read else None


def aggregate(method: str, rates: list[float], no_reading: str | None = None) -> Aggregate:
    """Median (on a log scale) and quartile ratio of the replicas' rates; `no_reading`: why
    some or all replicas gave none."""
    if not rates:
        return Aggregate(method, float("nan"), float("nan"), [], no_reading)
    logs = np.log10(np.asarray(rates, float))
    q25, q50, q75 = np.percentile(logs, [25, 50, 75])
    spread = float(10 ** (q75 - q25))
    return Aggregate(method, float(10**q50), spread, [float(r) for r in rates], no_reading)


def suggest_table(table: pd.DataFrame, column: str = "smoothed_loss") -> dict[str, Aggregate]:
    """Every method on every replica's curve of a range-test table, aggregated per method. A
    replica whose curve gives a method no reading (too short, flat, or lowest at the range's
    edge) is left out of that method's aggregate, which says why; if no method reads any
    replica, the error says why."""
    per_method: dict[str, list[float]] = {name: [] for name in METHODS}
    missing: dict[str, dict[str, int]] = {name: {} for name in METHODS}
    replicas = table["replica"].nunique()
    for _, curve in table.groupby("replica"):
        lrs, losses = curve["lr"].to_numpy(), curve[column].to_numpy()
        for name, fn in METHODS.items():
            try:
                per_method[name].append(fn(lrs, losses).lr)
            except ValueError as exc:
                reasons = missing[name]
                reasons[str(exc)] = reasons.get(str(exc), 0) + 1
    if not any(per_method.values()):
        reasons = {reason for found in missing.values() for reason in found}
        raise DataError("no replica's curve can be read: " + "; ".join(sorted(reasons)))
    return {
        name: aggregate(name, rates, _why_missing(missing[name], replicas))
        for name, rates in per_method.items()
    }


def flat_curves_warning(table: pd.DataFrame, column: str = "smoothed_loss") -> str | None:
    """A warning when some replicas' curves never fell (`never_fell`), else None."""
    flat = 0
    for _, curve in table.groupby("replica"):
        try:
            flat += never_fell(curve["lr"].to_numpy(), curve[column].to_numpy())
        except ValueError:
            continue
    if not flat:
        return None
    return (
        f"the loss never fell by {MIN_DROP:.0%} on {flat} of {table['replica'].nunique()} "
        "replicas' curves: the network learned little over the range, so their readings are "
        "guesses. Fix: lower --min-lr, check the target, or use more rows"
    )


def _why_missing(reasons: dict[str, int], replicas: int) -> str | None:
    """How many replicas gave no reading, per reason; None when all gave one."""
    if not reasons:
        return None
    return "; ".join(f"{n} of {replicas} replicas: {reason}" for reason, n in reasons.items())
