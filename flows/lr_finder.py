"""The learning-rate finder flow."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from flows.runners import (
    IN_PROCESS,
    RunnerKind,
    cluster_task_runner,
    share_api_url,
)
from lrfinder.cleaning import label_rule
from lrfinder.confirm import ConfirmConfig
from lrfinder.range_config import RangeTestConfig
from lrfinder.select_config import SelectConfig
from lrfinder.settings import Settings
from lrfinder.splitting import SplitConfig
from lrfinder.train_config import GateConfig, TrainConfig, apply_preset
from tasks.data import load_clean, locate_data, split_scale, write_data
from tasks.publish import publish
from tasks.run_folder import finish_run, open_run_folder
from tasks.select import select, write_select
from tasks.sweep import sweep, write_sweep
from tasks.train import evaluate_models, quality_gate, train, write_model


@flow(name="lr-finder", log_prints=True, task_runner=IN_PROCESS)
def lr_finder(
    data: str | None = None,
    target: str | None = None,
    threshold: float | None = 6.0,
    positive_label: str | None = None,
    test_size: float = 0.2,
    split_seed: int = 42,
    val_size: float = 0.2,
    val_seed: int = 0,
    split_strategy: Literal["random", "grouped"] = "random",
    sweep_mode: Literal["batch", "epoch"] = "batch",
    min_lr: float = 1e-6,
    max_lr: float = 10.0,
    num_steps: int = 300,
    n_seeds: int = 8,
    seed: int = 0,
    hidden_layers: list[int] = [128, 256, 256],  # noqa: B006 (Prefect parameters are copied)
    batch_size: int = 32,
    sweep_val_sample: int = 0,
    suggest_method: Literal["valley", "steepest", "minimum/10", "argmin"] = "valley",
    confirm: bool = True,
    confirm_candidates: int = 7,
    confirm_epochs: int = 6,
    confirm_patience: int = 2,
    confirm_metric: Literal["val_loss", "val_accuracy"] = "val_loss",
    confirm_extensions: int = 2,
    max_epochs: int = 100,
    patience: int = 10,
    refit: bool = True,
    final_model: Literal["ensemble", "single"] = "ensemble",
    baseline_lr: float = 1e-3,
    min_test_accuracy: float = 0.0,
    quality_gate_mode: Literal["warn", "fail"] = "warn",
    preset: Literal["default", "tutorial"] = "default",
    replicas_per_group: int = 8,
    task_runner: RunnerKind = "threads",
    cluster_address: str | None = None,
    gpus_per_group: float = 0.0,
) -> str:
    """Find a learning rate for a Keras MLP on the wine data (or your own CSV).

    Args:
        data: CSV path, folder with the UCI red/white pair, or http(s) URL; default: $WINE_DATA,
            then data/winequalityN.csv, then a download of the UCI files into data/.
        target: Target column of your own CSV; leave unset for the wine preset (quality).
        threshold: Label 1 when target >= threshold (wine: quality >= 6); none to use positive_label.
        positive_label: Label 1 when the target column equals this text (own data only).
        test_size: Fraction of clean rows held out as the test set (tutorial: 0.2).
        split_seed: Seed of the test split (tutorial: 42).
        val_size: Fraction of the remaining rows used for validation (stratified); 0 for none.
        val_seed: Seed of the validation split.
        split_strategy: random (tutorial) or grouped (identical rows stay in one split).
        sweep_mode: batch (rate grows every batch, min_lr to max_lr over num_steps) or epoch
            (the tutorial's 1e-3 * 10**(epoch/30) for 100 epochs).
        min_lr: First rate of the batch-mode range test.
        max_lr: Last rate of the batch-mode range test.
        num_steps: Batches in the batch-mode range test.
        n_seeds: Replicas trained at once, each with its own seed (init and batch order).
        seed: First replica seed; replicas use seed, seed+1, ...
        hidden_layers: Widths of the MLP's hidden ReLU layers (tutorial: 128 256 256).
        batch_size: Rows per training batch (tutorial: 32).
        sweep_val_sample: Validation rows for a loss measured every 10 steps; 0 for none.
        suggest_method: Curve reading that centres the confirmation sweep (argmin is the
            tutorial's choice).
        confirm: Confirm the suggestion with short trainings on the validation split.
        confirm_candidates: Log-spaced candidate rates, from a tenth to 3x the suggestion.
        confirm_epochs: Most epochs per candidate in the confirmation sweep.
        confirm_patience: Epochs without a lower validation loss before a candidate stops.
        confirm_metric: Validation metric whose median across seeds picks the rate.
        confirm_extensions: Times the candidate set may grow past an edge where the best sits.
        max_epochs: Most epochs of the final training (chosen rate and baseline).
        patience: Epochs without a lower validation loss before a final replica stops (its best
            weights are restored).
        refit: Retrain on train + validation for the epoch count early stopping found.
        final_model: ensemble (mean of the seed replicas' predictions) or single (first seed).
        baseline_lr: Rate of the baseline trained next to the chosen one (Adam's default).
        min_test_accuracy: Quality gate on the final model's test accuracy.
        quality_gate_mode: fail the run or only warn when the gate is not met.
        preset: default, or tutorial (no validation split, per-epoch range test, argmin,
            100 epochs, single model), which overrides the parameters it names.
        replicas_per_group: Slots of one vectorized engine. In this process each stage queues
            its replicas for one engine (a freed slot takes the next replica); on Dask or Ray
            each engine-full of replicas is one task run, side by side on the workers.
        task_runner: threads (in this process), dask or ray (prefect-dask / prefect-ray).
        cluster_address: Address of an existing Dask scheduler or Ray cluster; unset starts a
            local cluster with two workers.
        gpus_per_group: GPUs each replica group requests (Dask resources, Ray num_gpus).

    Returns:
        The run's output folder under artifacts/.
    """
    p = apply_preset(preset, locals())
    if p["task_runner"] == "threads":
        return run_stages(p)
    share_api_url()
    runner = cluster_task_runner(p["task_runner"], p["cluster_address"], p["gpus_per_group"])
    return on_cluster.with_options(task_runner=runner)(p)


@flow(name="lr-finder-on-cluster", log_prints=True)
def on_cluster(p: dict[str, Any]) -> str:
    """The stages with replica groups on a Dask or Ray cluster (the parent flow picks it)."""
    return run_stages(p)


def run_stages(p: dict[str, Any]) -> str:
    """Wire the stages' tasks; `p` holds the flow's parameters after the preset."""
    settings = Settings.from_env()
    rule = label_rule(p["target"], p["threshold"], p["positive_label"])
    config = SplitConfig(
        p["test_size"], p["split_seed"], p["val_size"], p["val_seed"], p["split_strategy"]
    )
    range_config = RangeTestConfig(
        mode=p["sweep_mode"],
        min_lr=p["min_lr"],
        max_lr=p["max_lr"],
        num_steps=p["num_steps"],
        n_seeds=p["n_seeds"],
        seed=p["seed"],
        hidden=tuple(p["hidden_layers"]),
        batch_size=p["batch_size"],
        val_sample=p["sweep_val_sample"],
        group_size=p["replicas_per_group"],
        gpus_per_group=p["gpus_per_group"],
        spread_groups=p["task_runner"] != "threads",
    )
    run_dir = open_run_folder(settings)
    source = locate_data(p["data"], settings)
    clean = load_clean(source, rule)
    split = split_scale(clean, config)
    write_data(run_dir, source, clean, split)
    select_config = SelectConfig(
        method=p["suggest_method"],
        confirm=p["confirm"],
        confirmation=ConfirmConfig(
            n_candidates=p["confirm_candidates"],
            epochs=p["confirm_epochs"],
            patience=p["confirm_patience"],
            metric=p["confirm_metric"],
            max_extensions=p["confirm_extensions"],
        ),
    )
    curves = sweep(split, range_config)
    write_sweep(run_dir, curves)
    selection = select(split, curves, range_config, select_config)
    write_select(run_dir, curves, selection)
    train_config = TrainConfig(
        max_epochs=p["max_epochs"],
        patience=p["patience"],
        refit=p["refit"],
        final_model=p["final_model"],
        baseline_lr=p["baseline_lr"],
    )
    trained = train(split, selection, range_config, train_config)
    evaluation = evaluate_models(trained, split)
    write_model(run_dir, trained, split, source, selection, evaluation)
    publish(run_dir, selection, evaluation, split)
    finished = finish_run(settings, run_dir)
    quality_gate(evaluation, GateConfig(p["min_test_accuracy"], p["quality_gate_mode"]))
    return finished
