"""Final training, evaluation, the saved model and the quality gate as tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import task
from prefect.runtime import flow_run

from lrfinder.fileio import atomic_path
from lrfinder.final import Trained, evaluate
from lrfinder.model_card import model_card
from lrfinder.outputs import write_model_outputs
from lrfinder.plots import confusion_matrix_chart, roc_chart, training_curves_chart
from lrfinder.range_config import RangeTestConfig
from lrfinder.sources import DataSource
from lrfinder.splitting import SplitData
from lrfinder.train_config import GateConfig, QualityGateError, TrainConfig, check_gate
from tasks.caching import content_cache
from tasks.groups import group_map
from tasks.logs import task_logger

PREDICTION_TOLERANCE = 1e-5


@task(
    name="train",
    cache_policy=content_cache(
        "lrfinder.final",
        "lrfinder.training",
        "lrfinder.train_config",
        "lrfinder.engine",
        "lrfinder.groups",
    ),
    persist_result=True,
)
def train(
    split: SplitData, selection, range_config: RangeTestConfig, config: TrainConfig
) -> Trained:
    """The chosen rate and the baseline, `n_seeds` replicas each, trained together."""
    from lrfinder.final import train_final

    trained = train_final(
        split, selection.chosen_lr, range_config.seeds, range_config.hidden,
        range_config.batch_size, config, range_config.grouping,
        group_map(
            "training-progress", "final training (replica-epochs)", range_config.gpus_per_group
        ),
    )  # fmt: skip
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
    selection,
    evaluation,
) -> list[str]:
    """Save model.keras (checked: it reloads in safe mode and predicts as saved), metrics.json,
    predictions.parquet, model_card.md and the training, confusion-matrix and ROC charts."""
    import keras

    from lrfinder.export import to_keras

    metrics, predictions = evaluation
    x_test, y_test = split.arrays("test")
    target = run_dir / "model.keras"
    with atomic_path(target) as tmp:
        to_keras(trained.final_replicas("chosen")).save(tmp)
        reloaded = keras.saving.load_model(tmp, safe_mode=True)
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
    card = model_card(
        metrics, source.describe(), dict(flow_run.parameters or {}), selection.summary["reason"]
    )
    written = write_model_outputs(run_dir, metrics, predictions, card, charts)
    return sorted([str(target), *(str(p) for p in written.values())])


@task(name="quality-gate")
def quality_gate(evaluation, gate: GateConfig) -> bool:
    """Fail the run, or only warn, when the final model's test accuracy is below the minimum."""
    metrics, _ = evaluation
    message = check_gate(metrics["test"]["chosen"]["final"]["accuracy"], gate)
    if message is None:
        return True
    if gate.mode == "fail":
        raise QualityGateError(message)
    task_logger().warning(message)
    return False
