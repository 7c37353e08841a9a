"""Final training: many (rate, seed) replicas at once with early stopping on validation loss and
the best weights restored, then an optional refit on train + validation."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from lrfinder.engine import StackedMLP
from lrfinder.groups import GroupMap, Kind, merge_fits, run_locally, split_groups
from lrfinder.range_config import steps_per_epoch
from lrfinder.train_config import Fit

Progress = Callable[[int, int, int], None]
TRAIN_EVAL_ROWS = 1024


def bce_from_logits(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy per row of `logits` (K, N) against labels y (N,), stable form."""
    losses = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    return losses.mean(axis=-1)


def _train_sample(n_rows: int, seed: int) -> np.ndarray:
    """Fixed rows on which the training loss and accuracy are measured after each epoch."""
    order = np.random.default_rng([seed, 3]).permutation(n_rows)
    return np.sort(order[:TRAIN_EVAL_ROWS])


def _scores(model: StackedMLP, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = model.logits(x)
    return bce_from_logits(logits, y), ((logits >= 0) == (y >= 0.5)).mean(axis=1)


def _plan(rates: list[float], n_rows: int, batch_size: int) -> np.ndarray:
    return np.tile(np.asarray(rates, "float32"), (steps_per_epoch(n_rows, batch_size), 1))


def fit_replicas(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    rates: list[float],
    seeds: list[int],
    hidden: tuple[int, ...],
    batch_size: int,
    max_epochs: int,
    patience: int,
    device: str | None = None,
    on_progress: Progress | None = None,
    sample_seed: int | None = None,
) -> Fit:
    """Train replica k at `rates[k]` from `seeds[k]` for up to `max_epochs` epochs. With a
    validation split, replica k stops after `patience` epochs without a lower validation loss and
    gets back the weights of its best epoch (Keras EarlyStopping with restore_best_weights);
    without one, all train `max_epochs` epochs. Training loss and accuracy are measured on rows
    drawn from `sample_seed` (default: the first seed)."""
    model = StackedMLP(x.shape[1], seeds, hidden, batch_size, device)
    plan = _plan(rates, len(x), batch_size)
    sample = _train_sample(len(x), seeds[0] if sample_seed is None else sample_seed)
    k = len(seeds)
    use_val = len(x_val) > 0
    best_loss = np.full(k, np.inf)
    best_weights = [p.numpy() for p in model.params]
    best_epoch = np.zeros(k, int)
    waited = np.zeros(k, int)
    active = np.ones(k, bool)
    rows = []
    for epoch in range(max_epochs):
        model.train(x, y, plan, active=active)
        loss, accuracy = _scores(model, x[sample], y[sample])
        val_loss, val_accuracy = (
            _scores(model, x_val, y_val) if use_val else (np.full(k, np.nan),) * 2
        )
        rows.extend(
            _history_rows(
                "fit", epoch, rates, seeds, active, loss, accuracy, val_loss, val_accuracy
            )
        )
        if use_val:
            improved = active & np.isfinite(val_loss) & (val_loss < best_loss)
            if improved.any():
                current = [p.numpy() for p in model.params]
                for best, now in zip(best_weights, current, strict=True):
                    best[improved] = now[improved]
            best_loss = np.where(improved, val_loss, best_loss)
            best_epoch = np.where(improved, epoch, best_epoch)
            waited = np.where(improved, 0, waited + active)
            active &= (waited < patience) & np.isfinite(val_loss)
        else:
            best_epoch[:] = epoch
        if on_progress:
            on_progress(epoch + 1, max_epochs, int(active.sum()))
        if not active.any():
            break
    weights = best_weights if use_val else [p.numpy() for p in model.params]
    return Fit(
        weights, list(rates), list(seeds), pd.DataFrame(rows), [int(e) + 1 for e in best_epoch]
    )


def refit_replicas(
    x: np.ndarray,
    y: np.ndarray,
    rates: list[float],
    seeds: list[int],
    epochs: list[int],
    hidden: tuple[int, ...],
    batch_size: int,
    device: str | None = None,
    on_progress: Progress | None = None,
    sample_seed: int | None = None,
) -> Fit:
    """Train replica k from scratch (same seed) on `x` for exactly `epochs[k]` epochs."""
    model = StackedMLP(x.shape[1], seeds, hidden, batch_size, device)
    plan = _plan(rates, len(x), batch_size)
    target = np.asarray(epochs)
    sample = _train_sample(len(x), seeds[0] if sample_seed is None else sample_seed)
    rows = []
    nan = np.full(len(seeds), np.nan)
    for epoch in range(int(target.max())):
        active = epoch < target
        model.train(x, y, plan, active=active)
        loss, accuracy = _scores(model, x[sample], y[sample])
        rows.extend(_history_rows("refit", epoch, rates, seeds, active, loss, accuracy, nan, nan))
        if on_progress:
            on_progress(epoch + 1, int(target.max()), int(active.sum()))
    weights = [p.numpy() for p in model.params]
    return Fit(weights, list(rates), list(seeds), pd.DataFrame(rows), [int(e) for e in epochs])


def fit_grouped(
    kind: Kind,
    shared: dict[str, Any],
    rates: list[float],
    seeds: list[int],
    group_size: int,
    map_groups: GroupMap | None = None,
    on_progress: Progress | None = None,
    epochs: list[int] | None = None,
) -> Fit:
    """`fit_replicas` (kind "fit") or `refit_replicas` ("refit") on contiguous groups of at
    most `group_size` replicas, through `map_groups` (default: in turn, here), merged in replica
    order. Every group measures its training curves on the same rows (drawn from the first
    seed)."""
    calls = []
    for members in split_groups(len(seeds), group_size):
        call = {
            **shared,
            "rates": [rates[k] for k in members],
            "seeds": [seeds[k] for k in members],
            "sample_seed": seeds[0],
        }
        if epochs is not None:
            call["epochs"] = [epochs[k] for k in members]
        calls.append(call)
    run = map_groups or partial(run_locally, on_progress=on_progress)
    return merge_fits(run(kind, calls))


def _history_rows(stage, epoch, rates, seeds, active, loss, accuracy, val_loss, val_accuracy):
    return [
        {
            "stage": stage,
            "replica": k,
            "lr": rates[k],
            "seed": seeds[k],
            "epoch": epoch,
            "loss": float(loss[k]),
            "accuracy": float(accuracy[k]),
            "val_loss": float(val_loss[k]),
            "val_accuracy": float(val_accuracy[k]),
        }
        for k in range(len(seeds))
        if active[k]
    ]


def evaluate_rates(
    x: np.ndarray,
    y: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    rates: np.ndarray,
    seeds: list[int],
    epochs: int,
    patience: int,
    hidden: tuple[int, ...],
    batch_size: int,
    group_size: int = 8,
    map_groups: GroupMap | None = None,
    on_progress: Progress | None = None,
) -> pd.DataFrame:
    """Every (rate, seed) pair through `fit_grouped`; one row per pair with its best epoch,
    the epochs it ran, and the validation loss and accuracy of its best epoch."""
    if len(x_val) == 0:
        raise ValueError("the confirmation sweep needs a validation split: use val_size > 0.")
    pairs = [(float(rate), seed) for rate in rates for seed in seeds]
    fit = fit_grouped(
        "fit",
        {"x": x, "y": y, "x_val": x_val, "y_val": y_val, "hidden": hidden,
         "batch_size": batch_size, "max_epochs": epochs, "patience": patience},
        [rate for rate, _ in pairs], [seed for _, seed in pairs], group_size, map_groups,
        on_progress,
    )  # fmt: skip
    rows = []
    for k, (rate, seed) in enumerate(pairs):
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
