"""The learning-rate finder flow: its parameters are the settings sections of `lrfinder.params`."""

from __future__ import annotations

from prefect import flow

from lrfinder.data.cleaning import label_rule
from lrfinder.engine.backend_name import backend_name
from lrfinder.engine.setup import training_setup
from lrfinder.errors import SettingsError
from lrfinder.model.network import check_model_file
from lrfinder.params import (
    DataSettings,
    ExecutionSettings,
    ModelSettings,
    Preset,
    QualityGateSettings,
    RangeTestSettings,
    RunSettings,
    SelectionSettings,
    SplitSettings,
    TrainingSettings,
    gate_metric_problem,
    parse_settings,
)
from lrfinder.paths import Paths
from runtime.failures import failing_for_good
from runtime.runners import IN_PROCESS, cluster_task_runner, share_api_url
from tasks.data import load_clean, locate_data, split_scale, write_data
from tasks.history import record
from tasks.publish import publish
from tasks.run_folder import finish_run, open_run_folder
from tasks.select import select, write_select
from tasks.sweep import sweep, write_sweep
from tasks.train import evaluate_models, quality_gate, train, write_model

DEFAULTS = RunSettings()


@flow(name="lr-finder", log_prints=True, task_runner=IN_PROCESS, validate_parameters=False)
def lr_finder(
    data: DataSettings = DEFAULTS.data,
    split: SplitSettings = DEFAULTS.split,
    model: ModelSettings = DEFAULTS.model,
    range_test: RangeTestSettings = DEFAULTS.range_test,
    selection: SelectionSettings = DEFAULTS.selection,
    training: TrainingSettings = DEFAULTS.training,
    quality_gate: QualityGateSettings = DEFAULTS.quality_gate,
    execution: ExecutionSettings = DEFAULTS.execution,
    preset: Preset = "default",
) -> str:
    """Find a learning rate for a Keras MLP on the wine data (or your own CSV).

    Args:
        data: Input file and how its label is made.
        split: Test and validation splits.
        model: The network, its optimizer and batch size, and the seeded replicas.
        range_test: The learning-rate range test (the sweep).
        selection: Reading a rate off the curves, and confirming it.
        training: The final models' protocol (the race trains under it), the baseline, refit
            and final model.
        quality_gate: The final model's test metric: its bound, and the trivial predictor to
            beat.
        execution: Where replica groups run (threads, Dask or Ray; no part of a cache key) and
            the engines' slot count.
        preset: default, or tutorial (no validation split, per-epoch range test, argmin, 100
            epochs, single model); it fills the settings not given, and a given value it would
            change stops the run.

    Returns:
        The run's output folder under artifacts/.
    """
    given = dict(locals())  # the parameters, named as RunSettings names its fields

    def body() -> str:
        # Validated here, not by Prefect before the run starts, so that a settings error is
        # reported with its fix and is not retried.
        settings = parse_settings(given).resolved()
        check_model_file(settings.model)
        backend_name()
        if settings.execution.task_runner == "threads":
            return run_stages(settings)
        share_api_url()
        runner = cluster_task_runner(settings.execution)
        return on_cluster.with_options(task_runner=runner)(settings)

    return failing_for_good(body)


@flow(name="lr-finder-on-cluster", log_prints=True)
def on_cluster(settings: RunSettings) -> str:
    """The stages with replica groups on a Dask or Ray cluster (the parent flow picks it)."""
    return failing_for_good(lambda: run_stages(settings))


def run_stages(settings: RunSettings) -> str:
    """Wire the stages' tasks for resolved settings."""
    paths = Paths.from_env()
    execution = settings.execution
    run_dir = open_run_folder(paths)
    source = locate_data(settings.data.source, paths)
    clean = load_clean(source, label_rule(settings.data))
    if problem := gate_metric_problem(settings.quality_gate, clean.task):
        raise SettingsError(problem)
    split = split_scale(clean, settings.split)
    write_data(run_dir, source, clean, split)
    setup = training_setup(settings.model, split)
    found = sweep(split, setup, settings.range_test, execution)
    write_sweep(run_dir, found)
    selection = select(split, found, settings.selection, settings.race_protocol, execution)
    write_select(run_dir, found, selection)
    trained = train(split, selection, setup, settings.training, execution)
    evaluation = evaluate_models(trained, split, settings.training, settings.quality_gate)
    write_model(run_dir, trained, split, source, selection, evaluation, settings)
    recorded = record(paths, run_dir, source, split, selection, evaluation, settings)
    publish(run_dir, selection, evaluation, split, recorded)
    finished = finish_run(paths, run_dir)
    quality_gate(evaluation, settings.quality_gate)
    return finished
