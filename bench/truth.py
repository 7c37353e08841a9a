"""Ground truth for judging a chosen learning rate: a grid of rates trained to early stopping on
the engine, each rate's models judged on held-out rows, and where a rate falls on that curve.

The held-out rows are the split's test rows that have no exact twin (same features) among the
train and validation rows: the flow's data stages keep the test part out of every step before
evaluation, so neither early stopping nor any selection method sees them, and twin-free rows
judge generalization rather than memory. A rate's loss is the median over GRID_SEEDS of its
models' mean loss on those rows (best weights restored). The truth's own noise is the spread of
that median at the best rate, bootstrapped over seeds; a rate is in a region when its loss is
within the region's tolerance of the best, or inside that noise band.

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
from lrfinder.training.final import no_twin_mask, trivial_prediction
from lrfinder.training.fit import best_epochs, fit_grouped, fit_replicas

GRID_RANGE = (1e-5, 1.0)
GRID_SEEDS = list(range(100, 108))
REGIONS = (0.01, 0.025)
# Regret is measured against the best loss, but never against less than this share of the
# trivial predictor's loss: where the network separates the held-out rows the best loss tends
# to 0, and "within 1 % of it" would admit only the grid's single best rate.
FLOOR = 0.01
# The noise band: the upper end of the central NOISE_LEVEL interval of the best rate's median,
# from BOOTSTRAPS resamples of its seeds (seeded, so a table always gives the same truth).
NOISE_LEVEL = 0.95
BOOTSTRAPS = 2000
# A data set is informative when its 1 % region spans at most this many decades of rate.
INFORMATIVE_DECADES = 2.0


def held_out(split: SplitData) -> tuple[np.ndarray, np.ndarray]:
    """Features and target (as the model learns it) of the rows a rate is judged on."""
    x, y = split.arrays("test")
    keep = no_twin_mask(split)
    return x[keep], y[keep]


def mean_losses(split: SplitData, predicted: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each replica's mean loss over the rows of `y`: the task's default Keras loss of its
    predictions (K, N) or (K, N, classes) on the model's scale; inf where it is not finite."""
    from lrfinder.engine.backend import keras, to_numpy

    if not len(y):
        return np.full(len(predicted), np.inf)
    loss = keras.losses.get(head_for(split.task, len(split.classes)).default_loss)
    labels = (y if split.task == "multiclass" else y[:, None]).astype("float32")
    values = np.array(
        [
            float(to_numpy(loss(labels, outputs.reshape(len(y), -1))).mean())
            for outputs in np.asarray(predicted, "float32")
        ]
    )
    return np.where(np.isfinite(values), values, np.inf)


def metric(split: SplitData, predicted: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each replica's accuracy, or for regression its RMSE in the target's units."""
    if split.task == "regression":
        return np.sqrt(((predicted - y) ** 2).mean(axis=1)) * split.scaler["target"]["scale"]
    if split.task == "binary":
        return ((predicted >= 0.5) == (y >= 0.5)).mean(axis=1)
    return (predicted.argmax(axis=-1) == y).mean(axis=1)


def train_rates(split: SplitData, rates: list[float], seeds: list[int]) -> pd.DataFrame:
    """Every (rate, seed) trained as the final training trains (default network and batch size,
    up to 100 epochs, patience 10 on the validation split, best weights restored); one row per
    pair: the epochs it ran, its best validation loss, and its best weights' mean loss and test
    metric (accuracy; for regression the RMSE in the target's units) on the held-out rows."""
    model, training = ModelSettings(), TrainingSettings()
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val_check")
    x_held, y_held = held_out(split)
    head = head_for(split.task, len(split.classes))
    recipe = recipe_of(model, x.shape[1], head, y)
    pairs = [(float(rate), seed) for rate in rates for seed in seeds]
    shared = {"x": x, "y": y, "x_val": x_val, "y_val": y_val, "recipe": recipe}
    shared |= {"max_epochs": training.max_epochs, "patience": training.patience}
    fit = fit_grouped(fit_replicas, shared, [r for r, _ in pairs], [s for _, s in pairs])
    predicted = predict(recipe, fit.states, x_held)
    table = best_epochs(fit)
    trained = (table["best_epoch"] >= 0).to_numpy()
    table["held_out_loss"] = np.where(trained, mean_losses(split, predicted, y_held), np.inf)
    table["test_metric"] = np.where(trained, metric(split, predicted, y_held), np.nan)
    return table[["lr", "seed", "epochs_run", "val_loss", "held_out_loss", "test_metric"]]


def noise_band(losses: np.ndarray) -> float:
    """The upper end of the bootstrap interval (NOISE_LEVEL, BOOTSTRAPS resamples of the seeds)
    of the median of `losses`, one per seed: one of the resampled medians, so inf (not NaN)
    when failed seeds make enough of them infinite."""
    resampled = np.random.default_rng(0).choice(losses, (BOOTSTRAPS, len(losses)))
    medians = np.median(resampled, axis=1)
    return float(np.quantile(medians, 0.5 + NOISE_LEVEL / 2, method="higher"))


@dataclass(frozen=True)
class Truth:
    """The grid's median held-out loss and median test metric per rate, and the upper end of
    the best rate's noise band (`band`, a loss)."""

    rates: np.ndarray
    loss: np.ndarray
    test_metric: np.ndarray
    replica_epochs: int
    trivial_loss: float
    band: float

    @classmethod
    def from_table(cls, table: pd.DataFrame, trivial_loss: float) -> Truth:
        medians = table.groupby("lr")[["held_out_loss", "test_metric"]].median()
        loss = medians["held_out_loss"].to_numpy(float)
        best_lr = medians.index[int(np.argmin(loss))]
        return cls(
            medians.index.to_numpy(float),
            loss,
            medians["test_metric"].to_numpy(float),
            int(table["epochs_run"].sum()),
            trivial_loss,
            noise_band(table.loc[table["lr"] == best_lr, "held_out_loss"].to_numpy(float)),
        )

    @property
    def best(self) -> float:
        return float(np.min(self.loss))

    @property
    def best_lr(self) -> float:
        return float(self.rates[int(np.argmin(self.loss))])

    def at(self, lr: float, values: np.ndarray | None = None) -> float:
        """The median curve (held-out loss, or `values` per grid rate) at `lr`: linear in
        log10(rate) between the two grid rates around it; infinite where either is not finite
        (divergence); outside the grid, NaN."""
        values = self.loss if values is None else values
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

    @property
    def noise(self) -> float:
        """The noise band's upper end as a regret."""
        return (self.band - self.best) / self.scale

    def regret(self, lr: float | None) -> float:
        """Excess of the held-out loss at `lr` over the grid's best, relative to `scale` (inf for
        no rate or one outside the grid)."""
        if lr is None:
            return float("inf")
        loss = self.at(lr)
        return float("inf") if not np.isfinite(loss) else (loss - self.best) / self.scale

    def allowance(self, tolerance: float) -> float:
        """The most regret a rate in the `tolerance` region has: the tolerance, or the noise
        band where that is wider."""
        return max(tolerance, self.noise)

    def contains(self, lr: float | None, tolerance: float) -> bool:
        """Whether `lr` is in the `tolerance` region (never a rate that diverged, is missing or
        is off the grid)."""
        regret = self.regret(lr)
        return bool(np.isfinite(regret) and regret <= self.allowance(tolerance))

    def region(self, tolerance: float) -> tuple[float, float]:
        """Lowest and highest rate in the `tolerance` region."""
        fine = np.geomspace(self.rates[0], self.rates[-1], 2001)
        inside = fine[[self.contains(lr, tolerance) for lr in fine]]
        return float(inside.min()), float(inside.max())

    def width(self, tolerance: float) -> float:
        """How many decades of rate the `tolerance` region spans."""
        low, high = self.region(tolerance)
        return float(np.log10(high / low))

    @property
    def informative(self) -> bool:
        """Whether the 1 % region is narrow enough (INFORMATIVE_DECADES) to judge a pick, and
        the noise band bounded (failed seeds at the best rate can make it infinite)."""
        return bool(np.isfinite(self.noise) and self.width(REGIONS[0]) <= INFORMATIVE_DECADES)


def trivial_loss(split: SplitData) -> float:
    """Held-out loss of the trivial predictor learned from the train split (the product's
    `trivial_prediction`: class shares, or the mean), on the model's scale."""
    _, y = held_out(split)
    predicted = np.asarray(trivial_prediction(split, len(y), refit=False), "float32")
    if split.task == "regression":
        target = split.scaler["target"]
        predicted = (predicted - target["mean"]) / target["scale"]
    return float(mean_losses(split, predicted[None], y)[0])


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
