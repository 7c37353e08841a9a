"""The learning-rate range test (the sweep) as a cached task."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from lrfinder.data.splitting import SplitData
from lrfinder.engine.setup import TrainingSetup
from lrfinder.finder import FoundRate, find_lr
from lrfinder.params import ExecutionSettings, RangeTestSettings, SelectionSettings
from lrfinder.reporting.outputs import write_range_test
from runtime.cache_keys import content_cache
from runtime.logs import task_logger
from tasks.groups import placement


@task(name="sweep", cache_policy=content_cache(), persist_result=True)
def sweep(
    split: SplitData,
    setup: TrainingSetup,
    settings: RangeTestSettings,
    execution: ExecutionSettings,
) -> FoundRate:
    """Run the range test on the train split (validation split for the optional val loss)."""
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val")
    label = f"range test ({settings.sweep_mode}, {len(setup.seeds)} replicas)"
    where = placement("sweep-progress", label, execution)
    found = find_lr(
        setup.recipe,
        x,
        y,
        validation_data=(x_val, y_val) if len(x_val) else None,
        seeds=setup.seeds,
        range_test=settings,
        selection=SelectionSettings(confirm=False),  # the select task confirms
        placement=where,
    )
    summary = found.range_test.summary
    if "note" in summary["engine"]:
        task_logger().info(summary["engine"]["note"])
    task_logger().info(
        "range test on %s: %d of %d steps in %.1f s (%.0f model-steps/s); diverged at lr %s",
        summary["device"],
        summary["steps_run"],
        summary["steps_planned"],
        summary["seconds"],
        summary["model_steps_per_second"],
        [None if d["lr"] is None else round(d["lr"], 4) for d in summary["diverged"]],
    )
    return found


@task(name="write-sweep-outputs")
def write_sweep(run_dir: Path, found: FoundRate) -> list[str]:
    """Write range_test.parquet and range_test.json into the run folder."""
    result = found.range_test
    return sorted(str(p) for p in write_range_test(run_dir, result.table, result.summary).values())
