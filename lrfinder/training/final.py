"""Train the chosen rate next to the default-rate baseline and evaluate both on the test set."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lrfinder.data.splitting import SplitData, row_keys
from lrfinder.engine.groups import HERE, Placement
from lrfinder.engine.recipe import Recipe
from lrfinder.engine.replicas import ReplicaState, predict
from lrfinder.engine.setup import TrainingSetup
from lrfinder.params import TrainingSettings
from lrfinder.training.decision import DEFAULT_THRESHOLD, tune_threshold
from lrfinder.training.evaluation import NO_TWIN_FREE_ROWS, binary_metrics, compare, task_metrics
from lrfinder.training.fit import Fit, fit_grouped, fit_replicas, refit_replicas
from lrfinder.training.intervals import final_intervals
from lrfinder.training.reference import reference_model, trained_on
from lrfinder.training.results import (
    Comparison,
    Evaluation,
    NoRows,
    Thresholds,
    ValidationScores,
)


@dataclass(frozen=True)
class Trained:
    """Both groups' replicas (chosen first, then baseline, same seeds), from the early-stopped
    fit and, when refit, from training on train + validation."""

    recipe: Recipe
    chosen_lr: float
    baseline_lr: float
    seeds: list[int]
    fit: Fit
    refit: Fit | None
    final_model: str
    no_refit_because: str | None = None

    @property
    def final(self) -> Fit:
        return self.refit or self.fit

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for state in self.final.states:
            for values in state.variables:
                digest.update(np.ascontiguousarray(values).tobytes())
        return digest.hexdigest()

    def group(self, name: str) -> list[int]:
        n = len(self.seeds)
        return list(range(n)) if name == "chosen" else list(range(n, 2 * n))

    def final_members(self, name: str = "chosen") -> list[int]:
        """The replicas of group `name`'s final model: all of them for the ensemble, its first
        seed's for a single model."""
        members = self.group(name)
        return members if self.final_model == "ensemble" else members[:1]

    def final_replicas(self, name: str = "chosen") -> list[ReplicaState]:
        """The states of the final model of group `name`'s replicas."""
        return [self.final.states[k] for k in self.final_members(name)]

    def history(self) -> pd.DataFrame:
        parts = [self.fit.history] + ([self.refit.history] if self.refit else [])
        frame = pd.concat(parts, ignore_index=True)
        frame["model"] = np.where(frame["replica"] < len(self.seeds), "chosen", "baseline")
        return frame


def train_final(
    split: SplitData,
    chosen_lr: float,
    setup: TrainingSetup,
    settings: TrainingSettings,
    placement: Placement = HERE,
    raced: Fit | None = None,
) -> Trained:
    """The final models: `raced` (the race's winner and baseline replicas, trained under
    `settings.protocol`) when given, else an early-stopped fit of both models' replicas
    (placed by `placement`); then (if `settings.refit` and there is a validation split) a refit
    on train + validation for each replica's best epoch count."""
    recipe, seeds = setup.recipe, setup.seeds
    x, y = split.arrays("train")
    if raced is not None:
        fit, baseline_lr = raced, raced.rates[-1]
    else:
        baseline_lr = settings.protocol.baseline_for(recipe.optimizer.default_lr)
        x_val, y_val = split.arrays("val_check")
        budget = {"max_epochs": settings.max_epochs, "patience": settings.patience}
        shared = {"x": x, "y": y, "x_val": x_val, "y_val": y_val, **budget, "recipe": recipe}
        rates = [chosen_lr] * len(seeds) + [baseline_lr] * len(seeds)
        fit = fit_grouped(fit_replicas, shared, rates, seeds * 2, placement)
    refit = None
    no_refit = why_no_refit(len(x), len(split.val), recipe) if settings.refit else None
    if settings.refit and no_refit is None:
        x_full_val, y_full_val = split.arrays("val")
        x_all, y_all = np.concatenate([x, x_full_val]), np.concatenate([y, y_full_val])
        shared = {"x": x_all, "y": y_all, "recipe": recipe}
        refit = fit_grouped(
            refit_replicas, shared, fit.rates, fit.seeds, placement, {"epochs": fit.epochs}
        )
    final = settings.final_model
    return Trained(recipe, chosen_lr, baseline_lr, seeds, fit, refit, final, no_refit)


def why_no_refit(n_train: int, n_val: int, recipe: Recipe) -> str | None:
    """Why the early-stopped models are final as they are, with no refit on train + validation
    (None: refit). A refit retrains for the epochs early stopping found, which counts passes
    over the data only while an epoch is a whole pass."""
    if n_val == 0:
        return "there is no validation split"
    rows = n_train + n_val
    per_pass = recipe.steps_per_pass(rows)
    if recipe.steps_per_epoch(rows) < per_pass:
        return (
            f"epochs are capped at {recipe.max_epoch_steps} steps, shorter than a pass over the "
            f"{rows:,} training and validation rows ({per_pass:,} steps): on data this large a "
            f"refit would repeat the fit's steps with {n_val:,} more rows and double the training "
            f"time. For whole-pass epochs and a refit, set max_epoch_steps (--max-epoch-steps) to "
            f"{per_pass} or more"
        )
    return None


def no_twin_mask(split: SplitData, parts: tuple[str, ...] = ("train", "val")) -> np.ndarray:
    """Test rows with no exact twin (same features) among the rows of the splits `parts` (those
    the final model trained on: `trained_on`)."""
    seen = pd.concat([getattr(split, part) for part in parts])
    return ~np.isin(row_keys(split.test, split.features), row_keys(seen, split.features))


def trivial_prediction(split: SplitData, rows: int, refit: bool) -> np.ndarray:
    """What a model that ignores the features predicts for `rows` rows, learned from the rows the
    final model trained on: the class shares (so the majority class wins) or the mean."""
    target = np.concatenate([split.target_values(part) for part in trained_on(refit)])
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
    predictions = split.to_target_units(predict(trained.recipe, trained.final.states, x_test))
    return predictions[trained.group("chosen")], predictions[trained.group("baseline")]


def final_output(trained: Trained, split: SplitData, name: str = "chosen") -> np.ndarray:
    """What the saved final model of group `name` outputs on the test set: (N, units), from the
    forward pass of that model's replicas only."""
    x_test, _ = split.arrays("test")
    states = trained.final_replicas(name)
    return _final(split.to_target_units(predict(trained.recipe, states, x_test)), "ensemble")


def _final(group: np.ndarray, final_model: str) -> np.ndarray:
    """The final model's output from its group's per-replica predictions: (N, units)."""
    pick = slice(None) if final_model == "ensemble" else slice(0, 1)
    output = group[pick].mean(axis=0)
    return output if output.ndim == 2 else output[:, None]


def validation_predictions(trained: Trained, split: SplitData) -> dict[str, np.ndarray]:
    """The early-stopped models' (before any refit) predictions on the whole validation split,
    per group: (seeds, N) or (seeds, N, classes)."""
    x_val, _ = split.arrays("val")
    predictions = split.to_target_units(predict(trained.recipe, trained.fit.states, x_val))
    return {name: predictions[trained.group(name)] for name in ("chosen", "baseline")}


def validation_metrics(trained: Trained, split: SplitData, predictions: dict) -> ValidationScores:
    """The early-stopped models on the whole validation split, whose checks during training
    may have scored a sample of it."""
    metrics_of = task_metrics(split.task, split.classes)
    y_val = split.target_values("val")
    result = compare(y_val, predictions["chosen"], predictions["baseline"], "ensemble", metrics_of)
    return ValidationScores(len(y_val), len(split.arrays("val_check")[0]), result)


def decision_thresholds(
    trained: Trained, split: SplitData, predictions: dict, objective: str
) -> Thresholds:
    """Each group's decision threshold, tuned for `objective` on its final model's (ensemble or
    first seed, before any refit) validation probabilities."""
    y_val = split.target_values("val")
    pick = slice(None) if trained.final_model == "ensemble" else slice(0, 1)
    found = {
        name: tune_threshold(y_val, predictions[name][pick].mean(axis=0), objective)
        for name in ("chosen", "baseline")
    }
    return Thresholds(
        objective=objective,
        chosen=found["chosen"],
        baseline=found["baseline"],
        tuned_on=f"the {len(y_val)} validation rows, early-stopped models (before any refit)",
    )


NOT_TUNED = Thresholds(
    objective=None,
    chosen=DEFAULT_THRESHOLD,
    baseline=DEFAULT_THRESHOLD,
    tuned_on="nothing: there is no validation split, so the threshold stays 0.5",
)


def per_row(output: np.ndarray, task: str) -> np.ndarray:
    """A final model's (N, units) output as the task's metrics take it: (N,) but for
    multiclass."""
    return output if task == "multiclass" else output[:, 0]


def evaluate(
    trained: Trained, split: SplitData, objective: str = "f1", also: tuple[str, ...] = ()
) -> Evaluation:
    """Metrics on all test rows and on those without a twin in the rows the final models
    learned from (train, and validation when refit; `NoRows` and why, where there are none),
    with a trivial predictor's beside them and 95 % intervals
    of the final models' headline metric, AUC and the metrics `also` names (the gate's); on the
    whole validation split (early-stopped models); plus the per-row predictions of both final
    models. Binary with a validation split: each final model's decision threshold tuned for
    `objective` on validation, and its test metrics at that threshold. `reference`: a
    gradient-boosted tree model with default settings on the same rows, as a yardstick, with
    the same intervals."""
    y_test = split.target_values("test")
    chosen, baseline = test_predictions(trained, split)
    mask = no_twin_mask(split, trained_on(trained.refit is not None))
    metrics_of = task_metrics(split.task, split.classes)
    trivial = trivial_prediction(split, len(y_test), trained.refit is not None)
    final = {
        "chosen": _final(chosen, trained.final_model),
        "baseline": _final(baseline, trained.final_model),
    }
    validation, thresholds = None, None
    if len(split.val):
        predictions = validation_predictions(trained, split)
        validation = validation_metrics(trained, split, predictions)
        if split.task == "binary":
            thresholds = decision_thresholds(trained, split, predictions, objective)
    elif split.task == "binary":
        thresholds = NOT_TUNED
    test = compare(y_test, chosen, baseline, trained.final_model, metrics_of, trivial)
    groups = {}
    for name, output in final.items():
        group = getattr(test, name)
        intervals = final_intervals(
            group.final, y_test, per_row(output, split.task), split.task, split.classes, also
        )
        at_tuned = None
        if validation is not None and thresholds is not None:
            at_tuned = binary_metrics(y_test, output[:, 0], getattr(thresholds, name))
        groups[name] = replace(group, intervals=intervals, final_at_tuned_threshold=at_tuned)
    clean: Comparison | NoRows = NoRows(NO_TWIN_FREE_ROWS)
    if mask.any():
        pair = chosen[:, mask], baseline[:, mask]
        clean = compare(y_test[mask], *pair, trained.final_model, metrics_of, trivial[mask])
    n = len(trained.seeds)
    return Evaluation(
        task=split.task,
        classes=list(split.classes) if split.task == "multiclass" else None,
        chosen_lr=trained.chosen_lr,
        baseline_lr=trained.baseline_lr,
        seeds=trained.seeds,
        refit=trained.refit is not None,
        no_refit_because=trained.no_refit_because,
        epochs={"chosen": trained.final.epochs[:n], "baseline": trained.final.epochs[n:]},
        test=replace(test, **groups),
        test_without_twins=clean,
        reference=reference_model(split, trained.refit is not None, mask, also),
        predictions=prediction_table(split, y_test, final, ~mask),
        validation=validation,
        decision_threshold=thresholds,
    )


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
