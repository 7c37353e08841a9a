"""Final training, evaluation, the saved model and the quality gate as tasks."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from lrfinder.data.sources import DataSource
from lrfinder.data.splitting import SplitData
from lrfinder.engine.setup import TrainingSetup
from lrfinder.lr.selection import Selection
from lrfinder.params import (
    ExecutionSettings,
    QualityGateSettings,
    RunSettings,
    TrainingSettings,
)
from lrfinder.reporting.model_card import model_card
from lrfinder.reporting.outputs import write_model_outputs
from lrfinder.reporting.plots import result_charts, training_curves_chart
from lrfinder.reporting.report import evaluation_lines
from lrfinder.training.final import Trained, evaluate, train_final
from lrfinder.training.gate import QualityGateError, check_gate
from lrfinder.training.results import Evaluation
from lrfinder.training.saving import save_final_model
from runtime.cache_keys import content_cache
from runtime.logs import task_logger
from tasks.groups import placement


@task(name="train", cache_policy=content_cache(), persist_result=True)
def train(
    split: SplitData,
    selection: Selection,
    setup: TrainingSetup,
    settings: TrainingSettings,
    execution: ExecutionSettings,
) -> Trained:
    """The final models: the race's winner and baseline replicas (`n_seeds` each), or, without
    a race, both rates trained together; refit on train + validation when asked."""
    where = placement("training-progress", "final training (replica-steps)", execution)
    raced = selection.raced_models(settings.protocol, setup.seeds)
    trained = train_final(split, selection.chosen_lr, setup, settings, where, raced)
    task_logger().info(
        "%s lr %.4g and baseline %.4g; best epochs per replica %s%s",
        "kept the race's replicas at" if raced is not None else "trained",
        trained.chosen_lr,
        trained.baseline_lr,
        trained.fit.epochs,
        ", refit on train + validation" if trained.refit else "",
    )
    if trained.no_refit_because:
        task_logger().info("no refit: %s", trained.no_refit_because)
    return trained


@task(name="evaluate")
def evaluate_models(
    trained: Trained, split: SplitData, settings: TrainingSettings, gate: QualityGateSettings
) -> Evaluation:
    """Test-set metrics of the chosen and the baseline models, per seed and final, with the
    decision threshold tuned on validation (binary) and 95 % intervals of the headline and gate
    metrics."""
    also = (gate.metric_for(split.task),)
    evaluation = evaluate(trained, split, settings.decision_threshold, also)
    for line in evaluation_lines(evaluation):
        task_logger().info(line)
    return evaluation


@task(name="write-model-outputs")
def write_model(
    run_dir: Path,
    trained: Trained,
    split: SplitData,
    source: DataSource,
    selection: Selection,
    evaluation: Evaluation,
    settings: RunSettings,
) -> list[str]:
    """Save model.keras (checked: it reloads in safe mode and predicts as saved), metrics.json,
    predictions.parquet, model_card.md and the training, confusion-matrix and ROC charts."""
    model = save_final_model(trained, split, run_dir / "model.keras")
    charts = {
        "training_curves.png": training_curves_chart(trained.history()),
        **result_charts(split.task, evaluation.test, evaluation.predictions),
    }
    card = model_card(evaluation, source.describe(), settings.flat(), selection.reason)
    written = write_model_outputs(run_dir, evaluation, card, charts)
    return sorted([str(model), *(str(p) for p in written.values())])


@task(name="quality-gate")
def quality_gate(evaluation: Evaluation, gate: QualityGateSettings) -> bool:
    """Fail the run, or only warn, when the final model's test gate metric misses its bound or
    does not beat the trivial predictor."""
    message = check_gate(evaluation, gate)
    if message is None:
        return True
    if gate.quality_gate_mode == "fail":
        raise QualityGateError(message)
    task_logger().warning(message)
    return False
