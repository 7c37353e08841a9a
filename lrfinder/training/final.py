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
from lrfinder.training.evaluation import compare, task_metrics
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
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val")
    recipe = model.recipe(x.shape[1], split.head(model.regression_loss))
    baseline_lr = settings.baseline_lr or recipe.optimizer.default_lr
    rates = [chosen_lr] * len(seeds) + [baseline_lr] * len(seeds)
    all_seeds = seeds * 2
    budget = {"max_epochs": settings.max_epochs, "patience": settings.patience}
    data = {"x": x, "y": y, "x_val": x_val, "y_val": y_val}
    shared = {**data, **budget, "recipe": recipe}
    fit = fit_grouped(fit_replicas, shared, rates, all_seeds, placement)
    refit = None
    if settings.refit and len(x_val):
        x_all, y_all = np.concatenate([x, x_val]), np.concatenate([y, y_val])
        shared = {"x": x_all, "y": y_all, "recipe": recipe}
        refit = fit_grouped(refit_replicas, shared, rates, all_seeds, placement, fit.epochs)
    return Trained(recipe.spec, chosen_lr, baseline_lr, seeds, fit, refit, settings.final_model)


def no_twin_mask(split: SplitData) -> np.ndarray:
    """Test rows with no exact twin (same features) among the rows the final model trained on."""
    seen = pd.concat([split.train, split.val])
    return ~np.isin(row_keys(split.test, split.features), row_keys(seen, split.features))


def trivial_prediction(split: SplitData, rows: int, refit: bool) -> np.ndarray:
    """What a model that ignores the features predicts for `rows` rows, learned from the rows the
    final model trained on: the class shares (so the majority class wins) or the mean."""
    seen = [split.target_values("train")] + ([split.target_values("val")] if refit else [])
    target = np.concatenate(seen)
    if split.task == "regression":
        return np.full(rows, target.mean())
    shares = np.bincount(target.astype(int), minlength=len(split.classes)) / len(target)
    if split.task == "binary":
        return np.full(rows, shares[1])
    return np.tile(shares, (rows, 1))


def test_predictions(trained: Trained, split: SplitData) -> tuple[np.ndarray, np.ndarray]:
    """Every replica's test-set predictions in the target's units (probabilities for classes),
    chosen and baseline groups: (seeds, N) or (seeds, N, classes) each."""
    x_test, _ = split.arrays("test")
    predictions = split.to_target_units(predict(trained.spec, trained.final.weights, x_test))
    return predictions[trained.group("chosen")], predictions[trained.group("baseline")]


def final_output(trained: Trained, split: SplitData, name: str = "chosen") -> np.ndarray:
    """What the saved final model of group `name` outputs on the test set: (N, units)."""
    chosen, baseline = test_predictions(trained, split)
    return _final(chosen if name == "chosen" else baseline, trained.final_model)


def _final(group: np.ndarray, final_model: str) -> np.ndarray:
    """The final model's output from its group's per-replica predictions: (N, units)."""
    pick = slice(None) if final_model == "ensemble" else slice(0, 1)
    output = group[pick].mean(axis=0)
    return output if output.ndim == 2 else output[:, None]


def evaluate(trained: Trained, split: SplitData) -> tuple[dict, pd.DataFrame]:
    """Metrics on all test rows and on the rows without a twin in train (with a trivial
    predictor's beside them), plus the per-row predictions of both final models."""
    y_test = split.target_values("test")
    chosen, baseline = test_predictions(trained, split)
    mask = no_twin_mask(split)
    metrics_of = task_metrics(split.task, split.classes)
    trivial = trivial_prediction(split, len(y_test), trained.refit is not None)
    metrics = {
        "task": split.task,
        **({"classes": list(split.classes)} if split.task == "multiclass" else {}),
        "chosen_lr": trained.chosen_lr,
        "baseline_lr": trained.baseline_lr,
        "seeds": trained.seeds,
        "refit": trained.refit is not None,
        "epochs": {
            "chosen": trained.final.epochs[: len(trained.seeds)],
            "baseline": trained.final.epochs[len(trained.seeds) :],
        },
        "test": compare(y_test, chosen, baseline, trained.final_model, metrics_of, trivial),
        "test_without_twins": compare(
            y_test[mask],
            chosen[:, mask],
            baseline[:, mask],
            trained.final_model,
            metrics_of,
            trivial[mask],
        ),
    }
    final = {
        "chosen": _final(chosen, trained.final_model),
        "baseline": _final(baseline, trained.final_model),
    }
    return metrics, prediction_table(split, y_test, final, ~mask)


def prediction_table(
    split: SplitData, y_test: np.ndarray, final: dict[str, np.ndarray], twin: np.ndarray
) -> pd.DataFrame:
    """One row per test row: the truth and both final models' predictions, in the target's
    units and labels (class names for multiclass, with each class's probability)."""
    if split.task == "binary":
        columns = {
            "y_true": y_test.astype("int64"),
            **{f"prob_{name}": out[:, 0].astype("float32") for name, out in final.items()},
        }
    elif split.task == "multiclass":
        names = np.array(split.classes)
        columns = {"y_true": names[y_test.astype(int)]}
        columns.update({f"pred_{name}": names[out.argmax(axis=1)] for name, out in final.items()})
        for name, out in final.items():
            for k, label in enumerate(split.classes):
                columns[f"prob_{name}_{label}"] = out[:, k].astype("float32")
    else:
        columns = {
            "y_true": y_test.astype("float64"),
            **{f"pred_{name}": out[:, 0].astype("float64") for name, out in final.items()},
        }
    return pd.DataFrame({**columns, "has_twin_in_train": twin})
