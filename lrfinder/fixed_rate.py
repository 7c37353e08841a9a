"""Train many (rate, seed) pairs at fixed rates at once, with early stopping on validation loss."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from lrfinder.engine import StackedMLP
from lrfinder.range_config import steps_per_epoch


def bce_from_logits(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy per row of `logits` (K, N) against labels y (N,), stable form."""
    losses = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    return losses.mean(axis=-1)


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
    device: str | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> pd.DataFrame:
    """Train every (rate, seed) pair at its fixed rate, all at once, for up to `epochs` epochs;
    a pair stops after `patience` epochs without a lower validation loss. One row per pair with
    the validation loss and accuracy of its best epoch."""
    if len(x_val) == 0:
        raise ValueError("the confirmation sweep needs a validation split: use val_size > 0.")
    pairs = [(float(rate), seed) for rate in rates for seed in seeds]
    model = StackedMLP(x.shape[1], [seed for _, seed in pairs], hidden, batch_size, device)
    per_step = np.array([rate for rate, _ in pairs], "float32")
    plan = np.tile(per_step, (steps_per_epoch(len(x), batch_size), 1))
    k = len(pairs)
    best_loss = np.full(k, np.inf)
    best_accuracy = np.zeros(k)
    best_epoch = np.full(k, -1)
    waited = np.zeros(k, int)
    epochs_run = np.zeros(k, int)
    active = np.ones(k, bool)
    for epoch in range(epochs):
        model.train(x, y, plan, active=active)
        epochs_run += active
        logits = model.logits(x_val)
        loss = bce_from_logits(logits, y_val)
        accuracy = ((logits >= 0) == (y_val >= 0.5)).mean(axis=1)
        improved = active & np.isfinite(loss) & (loss < best_loss)
        best_loss = np.where(improved, loss, best_loss)
        best_accuracy = np.where(improved, accuracy, best_accuracy)
        best_epoch = np.where(improved, epoch, best_epoch)
        waited = np.where(improved, 0, waited + active)
        active &= (waited < patience) & np.isfinite(loss)
        if on_progress:
            on_progress(epoch + 1, epochs, int(active.sum()))
        if not active.any():
            break
    return pd.DataFrame(
        {
            "lr": [rate for rate, _ in pairs],
            "seed": [seed for _, seed in pairs],
            "best_epoch": best_epoch,
            "epochs_run": epochs_run,
            "val_loss": best_loss,
            "val_accuracy": best_accuracy,
        }
    )
