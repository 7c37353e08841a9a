"""Train the chosen rate next to the default-rate baseline and evaluate both on the test set."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrfinder.data.splitting import SplitData, row_keys
from lrfinder.engine.groups import HERE, Placement
from lrfinder.model.forward import predict, replica
from lrfinder.model.spec import ModelSpec
from lrfinder.params import ModelSettings, TrainingSettings
from lrfinder.training.evaluation import compare
from lrfinder.training.fit import Fit, fit_grouped, fit_replicas, refit_replicas


@dataclass(frozen=True)
class Trained:
    """Both groups' replicas (chosen first, then baseline, same seeds), from the early-stopped
    fit and, when refit, from training on train + validation."""

    spec: ModelSpec
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
    model: ModelSettings,
    settings: TrainingSettings,
    placement: Placement = HERE,
) -> Trained:
    """Early-stopped fit of both models' replicas (placed by `placement`), then (if
    `settings.refit` and there is a validation split) a refit on train + validation for each
    replica's best epoch count."""
    seeds = model.seeds
    rates = [chosen_lr] * len(seeds) + [settings.baseline_lr] * len(seeds)
    all_seeds = seeds * 2
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val")
    recipe = model.recipe(x.shape[1])
    budget = {"max_epochs": settings.max_epochs, "patience": settings.patience}
    data = {"x": x, "y": y, "x_val": x_val, "y_val": y_val}
    shared = {**data, **budget, "recipe": recipe}
    fit = fit_grouped(fit_replicas, shared, rates, all_seeds, placement)
    refit = None
    if settings.refit and len(x_val):
        x_all, y_all = np.concatenate([x, x_val]), np.concatenate([y, y_val])
        shared = {"x": x_all, "y": y_all, "recipe": recipe}
        refit = fit_grouped(refit_replicas, shared, rates, all_seeds, placement, fit.epochs)
    return Trained(
        recipe.spec, chosen_lr, settings.baseline_lr, seeds, fit, refit, settings.final_model
    )


def no_twin_mask(split: SplitData) -> np.ndarray:
    """Test rows with no exact twin (same features) among the rows the final model trained on."""
    seen = pd.concat([split.train, split.val])
    return ~np.isin(row_keys(split.test, split.features), row_keys(seen, split.features))


def evaluate(trained: Trained, split: SplitData) -> tuple[dict, pd.DataFrame]:
    """Metrics on all test rows and on the rows without a twin in train, plus the per-row
    predictions of both final models."""
    x_test, y_test = split.arrays("test")
    probabilities = predict(trained.spec, trained.final.weights, x_test)
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
