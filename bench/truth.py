"""Ground truth for judging a chosen learning rate: a grid of rates trained to early stopping on
the engine, the median best validation loss per rate, and where a rate falls on that curve.

Shared by `bench.selection` (how often each method's rate lands in the good region) and
`bench.peers` (the tuners' rates under the same protocol)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lrfinder.data.splitting import SplitData
from lrfinder.engine.recipe import recipe_of
from lrfinder.engine.replicas import predict
from lrfinder.model.heads import head_for
from lrfinder.params import ModelSettings, TrainingSettings
from lrfinder.training.final import trivial_prediction
from lrfinder.training.fit import best_epochs, fit_grouped, fit_replicas

GRID_RANGE = (1e-5, 1.0)
GRID_SEEDS = [100, 101, 102, 103, 104]
REGIONS = (0.01, 0.025)
# Regret is measured against the best loss, but never against less than this share of the
# trivial predictor's loss: on a validation split the network separates perfectly the best loss
# tends to 0, and "within 1 % of it" would admit only the grid's single best rate.
FLOOR = 0.01


def train_rates(split: SplitData, rates: list[float], seeds: list[int]) -> pd.DataFrame:
    """Every (rate, seed) trained as the final training trains (default network and batch size,
    up to 100 epochs, patience 10 on the validation split, best weights restored); one row per
    pair: its best validation loss, the epochs it ran, and the test metric of its best weights
    (accuracy; for regression the RMSE in the target's units)."""
    model, training = ModelSettings(), TrainingSettings()
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val_check")
    x_test, y_test = split.arrays("test")
    head = head_for(split.task, len(split.classes))
    recipe = recipe_of(model, x.shape[1], head, y)
    pairs = [(float(rate), seed) for rate in rates for seed in seeds]
    shared = {"x": x, "y": y, "x_val": x_val, "y_val": y_val, "recipe": recipe}
    shared |= {"max_epochs": training.max_epochs, "patience": training.patience}
    fit = fit_grouped(fit_replicas, shared, [r for r, _ in pairs], [s for _, s in pairs])
    predicted = predict(recipe, fit.states, x_test)
    if split.task == "regression":
        scale = split.scaler["target"]["scale"]
        test_metric = np.sqrt(((predicted - y_test) ** 2).mean(axis=1)) * scale
    elif split.task == "binary":
        test_metric = ((predicted >= 0.5) == (y_test >= 0.5)).mean(axis=1)
    else:
        test_metric = (predicted.argmax(axis=-1) == y_test).mean(axis=1)
    table = best_epochs(fit)
    table["test_metric"] = np.where(table["best_epoch"] >= 0, test_metric, np.nan)
    return table[["lr", "seed", "epochs_run", "val_loss", "test_metric"]]


@dataclass(frozen=True)
class Truth:
    """The grid's median best validation loss and median test metric per rate."""

    rates: np.ndarray
    val_loss: np.ndarray
    test_metric: np.ndarray
    replica_epochs: int
    trivial_loss: float

    @classmethod
    def from_table(cls, table: pd.DataFrame, trivial_loss: float) -> Truth:
        medians = table.groupby("lr")[["val_loss", "test_metric"]].median()
        return cls(
            medians.index.to_numpy(float),
            medians["val_loss"].to_numpy(float),
            medians["test_metric"].to_numpy(float),
            int(table["epochs_run"].sum()),
            trivial_loss,
        )

    @property
    def best(self) -> float:
        return float(np.min(self.val_loss))

    @property
    def best_lr(self) -> float:
        return float(self.rates[int(np.argmin(self.val_loss))])

    def at(self, lr: float, values: np.ndarray | None = None) -> float:
        """The median curve (validation loss, or `values` per grid rate) at `lr`: linear in
        log10(rate) between the two grid rates around it; infinite where either is not finite
        (divergence); outside the grid, NaN."""
        values = self.val_loss if values is None else values
        logs, at = np.log10(self.rates), np.log10(lr)
        if not np.isfinite(at) or at < logs[0] - 1e-9 or at > logs[-1] + 1e-9:
            return float("nan")
        upper = int(np.clip(np.searchsorted(logs, at), 1, len(logs) - 1))
        lower = upper - 1
        a, b = values[lower], values[upper]
        if not (np.isfinite(a) and np.isfinite(b)):
            return float("inf")
        share = (at - logs[lower]) / (logs[upper] - logs[lower])
        return float(a + share * (b - a))

    @property
    def scale(self) -> float:
        """What regret is relative to: the best loss, at least FLOOR x the trivial loss."""
        return max(self.best, FLOOR * self.trivial_loss)

    def regret(self, lr: float | None) -> float:
        """Excess of the validation loss at `lr` over the grid's best, relative to `scale`
        (inf for no rate or one outside the grid)."""
        if lr is None:
            return float("inf")
        loss = self.at(lr)
        return float("inf") if not np.isfinite(loss) else (loss - self.best) / self.scale

    def region(self, tolerance: float) -> tuple[float, float]:
        """Lowest and highest rate whose loss on the curve is within `tolerance` of the best."""
        fine = np.geomspace(self.rates[0], self.rates[-1], 2001)
        inside = fine[[self.regret(lr) <= tolerance for lr in fine]]
        return float(inside.min()), float(inside.max())


def trivial_loss(split: SplitData) -> float:
    """Validation loss of the trivial predictor learned from the train split (the product's
    `trivial_prediction`: class shares, or the mean), on the model's scale."""
    from lrfinder.engine.backend import keras, to_numpy

    _, y_val = split.arrays("val_check")
    predicted = np.asarray(trivial_prediction(split, len(y_val), refit=False), "float32")
    if split.task == "regression":
        target = split.scaler["target"]
        predicted = (predicted - target["mean"]) / target["scale"]
    outputs = predicted.reshape(len(y_val), -1)
    labels = y_val if split.task == "multiclass" else y_val[:, None]
    loss = keras.losses.get(head_for(split.task, len(split.classes)).default_loss)
    return float(to_numpy(loss(labels.astype("float32"), outputs)).mean())


def grid(points: int) -> list[float]:
    """`points` log-spaced rates over GRID_RANGE."""
    return [float(r) for r in np.geomspace(*GRID_RANGE, points)]


def split_from_run(run_dir: Path) -> SplitData:
    """The split a flow run wrote (its Parquet files, scaler.json and metrics.json)."""
    frames = {
        name: pd.read_parquet(run_dir / f"{name}.parquet") for name in ("train", "val", "test")
    }
    scaler = json.loads((run_dir / "scaler.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    task = metrics["task"]
    classes = tuple(metrics.get("classes", ("0", "1"))) if task != "regression" else ()
    return SplitData(
        **frames,
        features=scaler["columns"],
        target=frames["test"].columns[-1],
        scaler=scaler,
        report={},
        task=task,
        classes=classes,
    )
