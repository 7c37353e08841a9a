"""The learning-rate range test: rates grow step by step while many seeded replicas train."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrfinder.data.cleaning import frame_fingerprint
from lrfinder.engine.groups import HERE, Placement, split_groups
from lrfinder.engine.recipe import Recipe
from lrfinder.engine.replicas import Replicas, StopRule
from lrfinder.lr.schedule import step_rates
from lrfinder.params import RangeTestSettings

COLUMNS = ["replica", "seed", "step", "lr", "loss", "smoothed_loss", "val_loss"]
VAL_EVERY = 10


@dataclass(frozen=True)
class RangeTestResult:
    """Tidy per-step table (one row per replica and step, or epoch) and a JSON-ready summary."""

    table: pd.DataFrame
    summary: dict

    @property
    def fingerprint(self) -> str:
        return frame_fingerprint(self.table)


def run_range_test(
    x: np.ndarray,
    y: np.ndarray,
    recipe: Recipe,
    seeds: list[int],
    settings: RangeTestSettings,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    placement: Placement = HERE,
) -> RangeTestResult:
    """Train one replica of `recipe` per seed along the rate schedule, in groups of at most
    `placement.grouping.size` run where `placement` says, and record their losses."""
    started = time.perf_counter()
    val_x, val_y = _val_sample(x_val, y_val, settings.sweep_val_sample, seeds[0])
    calls = [
        {
            "x": x,
            "y": y,
            "recipe": recipe,
            "settings": settings,
            "seeds": [seeds[k] for k in members],
            "replicas": members,
            "x_val": val_x,
            "y_val": val_y,
        }
        for members in split_groups(len(seeds), placement.grouping.size)
    ]
    parts = placement.run(range_test_group, calls)
    merged = parts[0] if len(parts) == 1 else _merge(parts, time.perf_counter() - started)
    config = {"range_test": settings.model_dump(), "seeds": list(seeds)}
    engine = {
        "optimizer": recipe.optimizer.name,
        "loss": recipe.loss,
        "batch_size": recipe.batch_size,
    }
    if recipe.optimizer.has_schedule:
        engine["note"] = (
            "the model's optimizer has a learning-rate schedule: the finder sets the rate "
            "at every step instead (the range test's rates, then the chosen rate)"
        )
    return RangeTestResult(merged.table, {**merged.summary, "engine": engine, "config": config})


def _merge(parts: list[RangeTestResult], seconds: float) -> RangeTestResult:
    """One result from the groups' results, in replica order, timed as a whole."""
    summary = dict(parts[0].summary)
    summary["steps_run"] = max(part.summary["steps_run"] for part in parts)
    summary["diverged"] = [entry for part in parts for entry in part.summary["diverged"]]
    summary["groups"] = [group for part in parts for group in part.summary["groups"]]
    summary["device"] = ", ".join(sorted({part.summary["device"] for part in parts}))
    summary["seconds"] = round(seconds, 3)
    replica_steps = sum(
        part.summary["steps_run"] * len(group["replicas"])
        for part in parts
        for group in part.summary["groups"]
    )
    summary["model_steps_per_second"] = round(replica_steps / seconds, 1)
    table = _tidy(pd.concat([part.table for part in parts], ignore_index=True))
    return RangeTestResult(table, summary)


def range_test_group(
    x: np.ndarray,
    y: np.ndarray,
    recipe: Recipe,
    settings: RangeTestSettings,
    seeds: list[int],
    replicas: range,
    x_val: np.ndarray,
    y_val: np.ndarray,
    on_progress: Callable[[int, int, int], None] | None = None,
    device: str | None = None,
) -> RangeTestResult:
    """The range test of `replicas` (seeded `seeds`) as one vectorized engine; `x_val`, `y_val`
    is the validation sample (empty for none)."""
    started = time.perf_counter()
    per_epoch = recipe.steps_per_epoch(len(x))
    rates = step_rates(settings, per_epoch)
    model = Replicas(recipe, seeds, device)
    epoch_mode = settings.sweep_mode == "epoch"
    stop = StopRule(settings.smoothing, math.inf if epoch_mode else settings.diverge_factor)
    val_every = per_epoch if epoch_mode else VAL_EVERY
    trace = model.train(x, y, rates, stop, x_val, y_val, val_every, on_progress)
    seconds = time.perf_counter() - started
    if epoch_mode:
        table = _epoch_table(trace, rates, per_epoch, seeds, replicas)
    else:
        table = _step_table(trace, rates, seeds, replicas)
    summary = {
        "mode": settings.sweep_mode,
        "steps_planned": len(rates),
        "steps_run": trace.steps_run,
        "steps_per_epoch": per_epoch,
        "train_rows": len(x),
        "val_sample_rows": len(y_val),
        "diverged": [
            {"replica": k, "seed": seed, "step": at, "lr": None if at is None else float(rates[at])}
            for k, seed, at in zip(replicas, seeds, trace.stopped_at, strict=True)
        ],
        "device": model.device,
        "seconds": round(seconds, 3),
        "model_steps_per_second": round(trace.steps_run * len(seeds) / seconds, 1),
        "groups": [
            {
                "replicas": list(replicas),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "device": model.device,
                "seconds": round(seconds, 3),
            }
        ],
    }
    return RangeTestResult(table, summary)


def _val_sample(
    x_val: np.ndarray | None, y_val: np.ndarray | None, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed validation sample (first rows of a seeded permutation), empty when disabled."""
    if x_val is None or y_val is None or size <= 0 or len(x_val) == 0:
        return np.zeros((0, 0), "float32"), np.zeros(0, "float32")
    order = np.random.default_rng([seed, 2]).permutation(len(x_val))[:size]
    return x_val[order], y_val[order]


def _step_table(trace, rates: np.ndarray, seeds: list[int], replicas: range) -> pd.DataFrame:
    steps, k = trace.loss.shape
    frame = pd.DataFrame(
        {
            "replica": np.tile(np.arange(k), steps),
            "seed": np.tile(seeds, steps),
            "step": np.repeat(np.arange(steps), k),
            "lr": np.repeat(rates[:steps], k),
            "loss": trace.loss.ravel(),
            "smoothed_loss": trace.smoothed.ravel(),
            "val_loss": trace.val_loss.ravel(),
        }
    )
    last = np.array([steps - 1 if at is None else at for at in trace.stopped_at])
    frame = frame[frame["step"].to_numpy() <= last[frame["replica"].to_numpy()]]
    return _tidy(frame.assign(replica=np.asarray(replicas)[frame["replica"].to_numpy()]))


def _epoch_table(
    trace, rates: np.ndarray, per_epoch: int, seeds: list[int], replicas: range
) -> pd.DataFrame:
    """One row per replica and epoch: the batch-size-weighted mean loss, as Keras reports it."""
    steps, k = trace.loss.shape
    epochs = math.ceil(steps / per_epoch)
    rows = []
    for epoch in range(epochs):
        window = slice(epoch * per_epoch, min((epoch + 1) * per_epoch, steps))
        sizes = trace.batch_sizes[window].astype("float64")
        losses = trace.loss[window]
        mean = (losses * sizes[:, None]).sum(axis=0) / sizes.sum()
        val = trace.val_loss[window][-1]
        for replica in range(k):
            rows.append(
                (
                    replicas[replica],
                    seeds[replica],
                    epoch,
                    float(rates[window.start]),
                    mean[replica],
                    mean[replica],
                    val[replica],
                )
            )
    return _tidy(pd.DataFrame(rows, columns=COLUMNS).dropna(subset=["loss"]))


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[COLUMNS].sort_values(["replica", "step"]).reset_index(drop=True)
    return frame.astype({"replica": "int32", "seed": "int64", "step": "int32", "lr": "float64"})
