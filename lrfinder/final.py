"""Train the chosen rate next to the default-rate baseline and evaluate both on the test set."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrfinder.evaluation import compare
from lrfinder.groups import DEFAULT_GROUPING, Grouping, GroupMap
from lrfinder.mlp import predict_proba, replica
from lrfinder.splitting import SplitData, row_keys
from lrfinder.train_config import Fit, TrainConfig


@dataclass(frozen=True)
class Trained:
    """Both groups' replicas (chosen first, then baseline, same seeds), from the early-stopped
    fit and, when refit, from training on train + validation."""

    chosen_lr: float
    baseline_lr: float
    seeds: list[int]
    fit: Fit
    refit: Fit | None
    final_model: str

    @property
    def final(self) -> Fit:
        return self.refit or self.fit

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for weights in self.final.weights:
            digest.update(np.ascontiguousarray(weights).tobytes())
        return digest.hexdigest()

    def group(self, name: str) -> list[int]:
        n = len(self.seeds)
        return list(range(n)) if name == "chosen" else list(range(n, 2 * n))

    def final_replicas(self, name: str = "chosen") -> list[list[np.ndarray]]:
        """Keras-order weights of the final model of group `name`: all its replicas for the
        ensemble, its first seed's replica for a single model."""
        members = self.group(name)
        members = members if self.final_model == "ensemble" else members[:1]
        return [replica(self.final.weights, k) for k in members]

    def history(self) -> pd.DataFrame:
        parts = [self.fit.history] + ([self.refit.history] if self.refit else [])
        frame = pd.concat(parts, ignore_index=True)
        frame["model"] = np.where(frame["replica"] < len(self.seeds), "chosen", "baseline")
        return frame


def train_final(
    split: SplitData,
    chosen_lr: float,
    seeds: list[int],
    hidden: tuple[int, ...],
    batch_size: int,
    config: TrainConfig,
    grouping: Grouping = DEFAULT_GROUPING,
    map_groups: GroupMap | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> Trained:
    """Early-stopped fit of both models' replicas (grouped by `grouping`), then (if
    `config.refit` and there is a validation split) a refit on train + validation for each
    replica's best epoch count."""
    from lrfinder.training import fit_grouped

    rates = [chosen_lr] * len(seeds) + [config.baseline_lr] * len(seeds)
    all_seeds = list(seeds) * 2
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val")
    shared = {"hidden": hidden, "batch_size": batch_size}
    fit = fit_grouped(
        "fit",
        {**shared, "x": x, "y": y, "x_val": x_val, "y_val": y_val,
         "max_epochs": config.max_epochs, "patience": config.patience},
        rates, all_seeds, grouping, map_groups, on_progress,
    )  # fmt: skip
    refit = None
    if config.refit and len(x_val):
        x_all, y_all = np.concatenate([x, x_val]), np.concatenate([y, y_val])
        refit = fit_grouped(
            "refit", {**shared, "x": x_all, "y": y_all}, rates, all_seeds, grouping, map_groups,
            on_progress, epochs=fit.epochs,
        )  # fmt: skip
    return Trained(chosen_lr, config.baseline_lr, list(seeds), fit, refit, config.final_model)


def no_twin_mask(split: SplitData) -> np.ndarray:
    """Test rows with no exact twin (same features) among the rows the final model trained on."""
    seen = pd.concat([split.train, split.val])
    return ~np.isin(row_keys(split.test, split.features), row_keys(seen, split.features))


def evaluate(trained: Trained, split: SplitData) -> tuple[dict, pd.DataFrame]:
    """Metrics on all test rows and on the rows without a twin in train, plus the per-row
    predictions of both final models."""
    x_test, y_test = split.arrays("test")
    probabilities = predict_proba(trained.final.weights, x_test)
    chosen = probabilities[trained.group("chosen")]
    baseline = probabilities[trained.group("baseline")]
    mask = no_twin_mask(split)
    metrics = {
        "chosen_lr": trained.chosen_lr,
        "baseline_lr": trained.baseline_lr,
        "seeds": trained.seeds,
        "refit": trained.refit is not None,
        "epochs": {
            "chosen": trained.final.epochs[: len(trained.seeds)],
            "baseline": trained.final.epochs[len(trained.seeds) :],
        },
        "test": compare(y_test, chosen, baseline, trained.final_model),
        "test_without_twins": compare(
            y_test[mask], chosen[:, mask], baseline[:, mask], trained.final_model
        ),
    }
    pick = slice(None) if trained.final_model == "ensemble" else slice(0, 1)
    predictions = pd.DataFrame(
        {
            "y_true": y_test.astype("int64"),
            "prob_chosen": chosen[pick].mean(axis=0).astype("float32"),
            "prob_baseline": baseline[pick].mean(axis=0).astype("float32"),
            "has_twin_in_train": ~mask,
        }
    )
    return metrics, predictions
