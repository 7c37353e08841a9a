"""Final training, evaluation, the saved model and the quality gate as tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import task

from lrfinder.data.sources import DataSource
from lrfinder.data.splitting import SplitData
from lrfinder.fileio import atomic_path
from lrfinder.lr.selection import Selection
from lrfinder.params import (
    ExecutionSettings,
    ModelSettings,
    QualityGateSettings,
    RunSettings,
    TrainingSettings,
)
from lrfinder.reporting.model_card import model_card
from lrfinder.reporting.outputs import write_model_outputs
from lrfinder.reporting.plots import confusion_matrix_chart, roc_chart, training_curves_chart
from lrfinder.training.final import Trained, evaluate, train_final
from lrfinder.training.gate import QualityGateError, check_gate
from tasks.caching import content_cache
from tasks.groups import placement
from tasks.logs import task_logger

PREDICTION_TOLERANCE = 1e-5


@task(name="train", cache_policy=content_cache(), persist_result=True)
def train(
    split: SplitData,
    selection: Selection,
    model: ModelSettings,
    settings: TrainingSettings,
    execution: ExecutionSettings,
) -> Trained:
    """The chosen rate and the baseline, `n_seeds` replicas each, trained together."""
    where = placement("training-progress", "final training (replica-epochs)", execution)
    trained = train_final(split, selection.chosen_lr, model, settings, where)
    task_logger().info(
        "trained lr %.4g and baseline %.4g; epochs per replica %s%s",
        trained.chosen_lr,
        trained.baseline_lr,
        trained.fit.epochs,
        ", refit on train + validation" if trained.refit else "",
    )
    return trained


@task(name="evaluate")
def evaluate_models(trained: Trained, split: SplitData):
    """Test-set metrics of the chosen and the baseline models, per seed and final."""
    metrics, predictions = evaluate(trained, split)
    test = metrics["test"]
    task_logger().info(
        "test accuracy: chosen %.4f, baseline %.4f (final %s); paired difference %+.4f ± %.4f",
        test["chosen"]["final"]["accuracy"],
        test["baseline"]["final"]["accuracy"],
        test["final_model"],
        test["difference"]["accuracy"]["mean"],
        test["difference"]["accuracy"]["std"],
    )
    return metrics, predictions


@task(name="write-model-outputs")
def write_model(
    run_dir: Path,
    trained: Trained,
    split: SplitData,
    source: DataSource,
    selection: Selection,
    evaluation,
    settings: RunSettings,
) -> list[str]:
    """Save model.keras (checked: it reloads in safe mode and predicts as saved), metrics.json,
    predictions.parquet, model_card.md and the training, confusion-matrix and ROC charts."""
    from lrfinder.model.export import load, save, to_keras

    metrics, predictions = evaluation
    x_test, y_test = split.arrays("test")
    target = run_dir / "model.keras"
    with atomic_path(target) as tmp:
        save(to_keras(trained.spec, trained.final_replicas("chosen")), tmp)
        reloaded = load(tmp)
        gap = np.abs(reloaded.predict(x_test, verbose=0)[:, 0] - predictions["prob_chosen"]).max()
        if gap > PREDICTION_TOLERANCE:
            raise RuntimeError(f"model.keras predicts {gap:.2e} away from the saved predictions")
    test = metrics["test"]
    charts = {
        "training_curves.png": training_curves_chart(trained.history()),
        "confusion_matrix.png": confusion_matrix_chart(
            test["chosen"]["final"], test["baseline"]["final"]
        ),
        "roc.png": roc_chart(y_test, predictions["prob_chosen"], predictions["prob_baseline"]),
    }
    card = model_card(metrics, source.describe(), settings.flat(), selection.summary["reason"])
    written = write_model_outputs(run_dir, metrics, predictions, card, charts)
    return sorted([str(target), *(str(p) for p in written.values())])


@task(name="quality-gate")
def quality_gate(evaluation, gate: QualityGateSettings) -> bool:
    """Fail the run, or only warn, when the final model's test accuracy is below the minimum."""
    metrics, _ = evaluation
    message = check_gate(metrics["test"]["chosen"]["final"]["accuracy"], gate)
    if message is None:
        return True
    if gate.quality_gate_mode == "fail":
        raise QualityGateError(message)
    task_logger().warning(message)
    return False
