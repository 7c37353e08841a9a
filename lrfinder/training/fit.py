"""Final training: many (rate, seed) replicas at once with early stopping on validation loss and
the best weights restored, then an optional refit on train + validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lrfinder.engine.groups import HERE, GroupFn, Placement, Progress
from lrfinder.engine.recipe import Recipe
from lrfinder.engine.replicas import Replicas, ReplicaState

NO_VALIDATION_SPLIT = (
    "the confirmation needs a validation split: set --val-size > 0 (or --confirm false)."
)


@dataclass(frozen=True)
class Paused:
    """An early-stopped replica between two calls: its state after `epochs_run` epochs, its best
    epoch so far (-1: none) with that epoch's state, validation loss and accuracy, the epochs it
    has waited since, and whether early stopping has ended it."""

    state: ReplicaState
    epochs_run: int
    best: ReplicaState
    best_epoch: int
    best_loss: float
    best_accuracy: float
    waited: int
    stopped: bool

    @property
    def epochs(self) -> int:
        """The epoch count it ends with, as `Fit.epochs` counts it: best epoch + 1 (1 without
        a best epoch)."""
        return max(self.best_epoch, 0) + 1


@dataclass(frozen=True)
class Fit:
    """Every replica's kept state (its best epoch's, or its last without validation), its rate
    and seed, per-epoch history (`stage` fit or refit), the epoch count each replica ended
    with and, for an early-stopped fit, where each replica paused (`fit_replicas` continues
    from there)."""

    states: list[ReplicaState]
    rates: list[float]
    seeds: list[int]
    history: pd.DataFrame
    epochs: list[int]
    paused: list[Paused] | None = None


class _Slots:
    """Replicas taking turns in an engine of `n_slots` slots, one epoch at a time: a slot freed by
    a finished replica takes the next one in `order` (fresh weights, optimizer state and batch order
    from its seed), so no slot computes for a replica that has stopped while others wait."""

    def __init__(
        self,
        recipe: Recipe,
        seeds: list[int],
        order: list[int],
        n_slots: int,
        device: str | None,
        resume: list[Paused | None] | None = None,
        epoch_steps: int = 0,
    ):
        self.seeds = seeds
        self.resume = resume or [None] * len(seeds)
        self.epoch_steps = epoch_steps
        self.pending = list(order)
        first = self.pending[:n_slots]
        del self.pending[:n_slots]
        self.replica: list[int | None] = first + [None] * (n_slots - len(first))
        slot_seeds = [seeds[r] for r in first] + [seeds[first[0]]] * (n_slots - len(first))
        self.model = Replicas(recipe, slot_seeds, device)
        self.epochs = np.zeros(n_slots, int)
        for slot, r in enumerate(first):
            if self.resume[r] is not None:
                self._resume(slot, r)

    def _resume(self, slot: int, r: int) -> None:
        paused = self.resume[r]
        steps = paused.epochs_run * self.epoch_steps
        self.model.load(slot, self.seeds[r], paused.state, steps)
        self.epochs[slot] = paused.epochs_run

    def occupied(self) -> list[tuple[int, int]]:
        return [(slot, r) for slot, r in enumerate(self.replica) if r is not None]

    def train_epoch(
        self, x: np.ndarray, y: np.ndarray, rates: list[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """One epoch for every occupied slot, each at its replica's rate; returns each slot's
        training loss and accuracy over the epoch's batches (NaN for empty slots)."""
        live = np.array([r is not None for r in self.replica])
        slot_rates = [rates[r] if r is not None else 0.0 for r in self.replica]
        steps = self.model.recipe.steps_per_epoch(len(x))
        plan = np.tile(np.asarray(slot_rates, "float32"), (steps, 1))
        trace = self.model.train(x, y, plan, active=live)
        self.epochs += live
        rows = trace.batch_sizes[:, None] / trace.batch_sizes.sum()
        return (trace.loss * rows).sum(axis=0), (trace.accuracy * rows).sum(axis=0)

    def release(self, slot: int) -> int | None:
        """Free `slot` and load the next replica into it; returns that replica, if any."""
        self.replica[slot] = None
        if not self.pending:
            return None
        r = self.pending.pop(0)
        self.replica[slot] = r
        if self.resume[r] is not None:
            self._resume(slot, r)
        else:
            self.model.load(slot, self.seeds[r])
            self.epochs[slot] = 0
        return r


class _Tally:
    """Progress in replica-steps (epochs of `epoch_steps`): a replica that finishes counts its
    whole planned budget."""

    def __init__(self, budgets: list[int], epoch_steps: int, on_progress: Progress | None):
        self.budgets = np.asarray(budgets, int) * epoch_steps
        self.epoch_steps = epoch_steps
        self.done = np.zeros(len(budgets), int)
        self.on_progress = on_progress

    def report(self, trained: list[int], finished: list[int], active: int) -> None:
        self.done[trained] += self.epoch_steps
        self.done[finished] = self.budgets[finished]
        if self.on_progress:
            self.on_progress(int(self.done.sum()), int(self.budgets.sum()), active)


def fit_replicas(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    rates: list[float],
    seeds: list[int],
    recipe: Recipe,
    max_epochs: int,
    patience: int,
    slots: int | None = None,
    device: str | None = None,
    on_progress: Progress | None = None,
    resume: list[Paused | None] | None = None,
) -> Fit:
    """Train replica k at `rates[k]` from `seeds[k]` up to epoch `max_epochs`. With a
    validation split, replica k stops after `patience` epochs without a lower validation loss and
    gets back the weights of its best epoch (Keras EarlyStopping with restore_best_weights);
    without one, all train `max_epochs` epochs. The replicas share an engine of `slots` slots
    (default: one each), in order. Training loss and accuracy are each epoch's batch averages.
    `resume[k]` (from an earlier fit's `paused`, on the same data) continues replica k where it
    paused, as if it had never stopped; it must not have stopped early."""
    n = len(seeds)
    epoch_steps = recipe.steps_per_epoch(len(x))
    queue = _Slots(recipe, seeds, list(range(n)), slots or n, device, resume, epoch_steps)
    data = (x, y, x_val, y_val)
    return _train_in_slots(queue, "fit", data, rates, [max_epochs] * n, patience, on_progress)


def refit_replicas(
    x: np.ndarray,
    y: np.ndarray,
    rates: list[float],
    seeds: list[int],
    recipe: Recipe,
    epochs: list[int],
    slots: int | None = None,
    device: str | None = None,
    on_progress: Progress | None = None,
) -> Fit:
    """Train replica k from scratch (same seed) on `x` for exactly `epochs[k]` epochs, sharing an
    engine of `slots` slots (default: one each), longest first."""
    if min(epochs) < 1:
        raise ValueError(f"refit epochs must be at least 1, got {list(epochs)}.")
    empty = np.zeros((0, x.shape[1]), x.dtype)
    order = sorted(range(len(seeds)), key=lambda r: -epochs[r])
    queue = _Slots(recipe, seeds, order, slots or len(seeds), device)
    data = (x, y, empty, np.zeros(0, y.dtype))
    return _train_in_slots(queue, "refit", data, rates, list(epochs), 1, on_progress)


def _train_in_slots(
    queue: _Slots,
    stage: str,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    rates: list[float],
    budgets: list[int],
    patience: int,
    on_progress: Progress | None,
) -> Fit:
    """Replica r trains up to `budgets[r]` epochs in the slots of `queue`; with a validation split
    it stops early and keeps its best epoch's weights, without one it keeps its last. The epochs
    each replica ends with: best epoch + 1, or its budget."""
    x, y, x_val, y_val = data
    seeds = queue.seeds
    n = len(seeds)
    use_val = len(x_val) > 0
    kept: list[ReplicaState | None] = [None] * n  # initial, then best (or last) epoch's state
    for slot, r in queue.occupied():
        kept[r] = queue.model.replica_state(slot)
    best_loss = np.full(n, np.inf)
    best_accuracy = np.zeros(n)
    best_epoch = np.zeros(n, int)
    waited = np.zeros(n, int)
    start = np.zeros(n, int)
    for r, paused in enumerate(queue.resume):
        if paused is not None:
            if paused.stopped or paused.epochs_run >= budgets[r]:
                raise ValueError(
                    f"replica {r} stopped early or has run its {budgets[r]} epochs: it cannot "
                    "resume."
                )
            kept[r], best_loss[r] = paused.best, paused.best_loss
            best_accuracy[r] = paused.best_accuracy
            best_epoch[r], waited[r] = paused.epochs - 1, paused.waited
            start[r] = paused.epochs_run
    remaining = [budget - first for budget, first in zip(budgets, start, strict=True)]
    tally = _Tally(remaining, queue.model.recipe.steps_per_epoch(len(x)), on_progress)
    paused_at: list[Paused | None] = [None] * n
    rows = []
    while queue.occupied():
        loss, accuracy = queue.train_epoch(x, y, rates)
        nan = np.full(len(queue.replica), np.nan)
        val_loss, val_accuracy = queue.model.evaluate(x_val, y_val) if use_val else (nan, nan)
        trained, finished = [], []
        for slot, r in queue.occupied():
            epoch = int(queue.epochs[slot]) - 1
            rows.append(
                {
                    "stage": stage,
                    "replica": r,
                    "lr": rates[r],
                    "seed": seeds[r],
                    "epoch": epoch,
                    "loss": float(loss[slot]),
                    "accuracy": float(accuracy[slot]),
                    "val_loss": float(val_loss[slot]),
                    "val_accuracy": float(val_accuracy[slot]),
                }
            )
            trained.append(r)
            improved = use_val and np.isfinite(val_loss[slot]) and val_loss[slot] < best_loss[r]
            if improved:
                kept[r] = queue.model.replica_state(slot)
                best_loss[r], best_epoch[r], waited[r] = val_loss[slot], epoch, 0
                best_accuracy[r] = val_accuracy[slot]
            else:
                waited[r] += 1
            stopped = use_val and (waited[r] >= patience or not np.isfinite(val_loss[slot]))
            if stopped or epoch + 1 >= budgets[r]:
                if not use_val:
                    kept[r] = queue.model.replica_state(slot)
                    best_epoch[r] = epoch
                else:
                    paused_at[r] = Paused(
                        state=kept[r] if stopped else queue.model.replica_state(slot),
                        epochs_run=epoch + 1,
                        best=kept[r],
                        best_epoch=int(best_epoch[r]) if np.isfinite(best_loss[r]) else -1,
                        best_loss=float(best_loss[r]),
                        best_accuracy=float(best_accuracy[r]),
                        waited=int(waited[r]),
                        stopped=bool(stopped),
                    )
                finished.append(r)
                if (loaded := queue.release(slot)) is not None and queue.resume[loaded] is None:
                    kept[loaded] = queue.model.replica_state(slot)
        tally.report(trained, finished, len(queue.occupied()))
    epochs = [int(e) + 1 for e in best_epoch]
    paused = list(paused_at) if use_val else None
    return Fit(list(kept), list(rates), list(seeds), _history(rows), epochs, paused)


def fit_grouped(
    fn: GroupFn,
    shared: dict[str, Any],
    rates: list[float],
    seeds: list[int],
    placement: Placement = HERE,
    per_replica: dict[str, list[Any]] | None = None,
) -> Fit:
    """`fn` (`fit_replicas` or `refit_replicas`) on the groups of `placement`, run where it
    says, merged in replica order; `per_replica` holds `fn`'s other per-replica arguments
    (`epochs`, `resume`)."""
    groups, slots = placement.grouping.plan(len(seeds))
    columns = {"rates": rates, "seeds": seeds, **(per_replica or {})}
    calls = [
        {
            **shared,
            **{name: [values[k] for k in members] for name, values in columns.items()},
            "slots": slots,
        }
        for members in groups
    ]
    return merge_fits(placement.run(fn, calls))


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
    paused = None if any(f.paused is None for f in fits) else [p for f in fits for p in f.paused]
    return Fit(
        states=[state for f in fits for state in f.states],
        rates=[rate for f in fits for rate in f.rates],
        seeds=[seed for f in fits for seed in f.seeds],
        history=pd.concat(histories, ignore_index=True),
        epochs=[epoch for f in fits for epoch in f.epochs],
        paused=paused,
    )


def _history(rows: list[dict]) -> pd.DataFrame:
    """Per-epoch history ordered by epoch, then replica."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["epoch", "replica"], kind="stable", ignore_index=True)


def candidates_fit(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    rates: np.ndarray,
    seeds: list[int],
    recipe: Recipe,
    epochs: int,
    patience: int,
    placement: Placement = HERE,
) -> Fit:
    """Every (rate, seed) pair trained through `fit_grouped`, early-stopped on the validation
    split, in rate-major order."""
    if len(x_val) == 0:
        raise ValueError(NO_VALIDATION_SPLIT)
    pairs = [(float(rate), seed) for rate in rates for seed in seeds]
    shared = {"x": x, "y": y, "x_val": x_val, "y_val": y_val, "recipe": recipe}
    shared |= {"max_epochs": epochs, "patience": patience}
    pair_rates, pair_seeds = [rate for rate, _ in pairs], [seed for _, seed in pairs]
    return fit_grouped(fit_replicas, shared, pair_rates, pair_seeds, placement)


def best_epochs(fit: Fit) -> pd.DataFrame:
    """One row per replica of an early-stopped `fit`: its rate and seed, its best epoch (-1 when
    no epoch scored a finite validation loss), the epochs it ran, and the validation loss (inf
    without a best epoch) and accuracy of its best epoch."""
    rows = []
    for k, (rate, seed) in enumerate(zip(fit.rates, fit.seeds, strict=True)):
        epochs_k = fit.history[fit.history["replica"] == k]
        scored = epochs_k[np.isfinite(epochs_k["val_loss"])]
        best = scored.loc[scored["val_loss"].idxmin()] if len(scored) else None
        rows.append(
            {
                "lr": rate,
                "seed": seed,
                "best_epoch": -1 if best is None else int(best["epoch"]),
                "epochs_run": len(epochs_k),
                "val_loss": np.inf if best is None else float(best["val_loss"]),
                "val_accuracy": 0.0 if best is None else float(best["val_accuracy"]),
            }
        )
    return pd.DataFrame(rows)
