"""The learning-rate range test: rates grow step by step while many seeded replicas train."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd

from lrfinder.cleaning import frame_fingerprint
from lrfinder.engine import StackedMLP, StopRule
from lrfinder.groups import GroupMap, run_locally, split_groups
from lrfinder.range_config import RangeTestConfig, step_rates, steps_per_epoch

COLUMNS = ["replica", "seed", "step", "lr", "loss", "smoothed_loss", "val_loss"]


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
    config: RangeTestConfig,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    map_groups: GroupMap | None = None,
) -> RangeTestResult:
    """Train `config.n_seeds` replicas along the rate schedule, in groups of at most
    `config.group_size` sent through `map_groups` (default: in turn, here), and record their
    losses."""
    started = time.perf_counter()
    calls = [
        {"x": x, "y": y, "config": config, "x_val": x_val, "y_val": y_val, "replicas": members}
        for members in split_groups(config.n_seeds, config.group_size)
    ]
    run = map_groups or partial(run_locally, on_progress=on_progress)
    parts = run("range_test", calls)
    if len(parts) == 1:
        return parts[0]
    seconds = time.perf_counter() - started
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
    config: RangeTestConfig,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    replicas: range | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    device: str | None = None,
) -> RangeTestResult:
    """The range test of replicas `replicas` (all by default) as one vectorized engine."""
    started = time.perf_counter()
    replicas = range(config.n_seeds) if replicas is None else replicas
    seeds = [config.seeds[k] for k in replicas]
    rates = step_rates(config, len(x))
    per_epoch = steps_per_epoch(len(x), config.batch_size)
    val_x, val_y = _val_sample(x_val, y_val, config)
    model = StackedMLP(x.shape[1], seeds, config.hidden, config.batch_size, device)
    stop = StopRule(config.beta, config.diverge_factor if config.mode == "batch" else math.inf)
    val_every = per_epoch if config.mode == "epoch" else config.val_every
    trace = model.train(x, y, rates, stop, val_x, val_y, val_every, on_progress)
    seconds = time.perf_counter() - started
    if config.mode == "epoch":
        table = _epoch_table(trace, rates, per_epoch, seeds, replicas)
    else:
        table = _step_table(trace, rates, seeds, replicas)
    summary = {
        "mode": config.mode,
        "config": asdict(config),
        "steps_planned": len(rates),
        "steps_run": trace.steps_run,
        "steps_per_epoch": per_epoch,
        "train_rows": len(x),
        "val_sample_rows": len(val_y),
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
    x_val: np.ndarray | None, y_val: np.ndarray | None, config: RangeTestConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed validation sample (first rows of a seeded permutation), empty when disabled."""
    if x_val is None or y_val is None or config.val_sample <= 0 or len(x_val) == 0:
        return np.zeros((0, 0), "float32"), np.zeros(0, "float32")
    order = np.random.default_rng([config.seed, 2]).permutation(len(x_val))[: config.val_sample]
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
