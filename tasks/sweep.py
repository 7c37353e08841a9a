"""The learning-rate range test as a cached task (TensorFlow is imported only when it runs)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from lrfinder.outputs import write_range_test
from lrfinder.range_config import RangeTestConfig
from lrfinder.splitting import SplitData
from tasks.caching import content_cache
from tasks.groups import group_map
from tasks.logs import task_logger


@task(
    name="sweep",
    cache_policy=content_cache(
        "lrfinder.range_test", "lrfinder.range_config", "lrfinder.engine", "lrfinder.groups"
    ),
    persist_result=True,
)
def sweep(split: SplitData, config: RangeTestConfig):
    """Run the range test on the train split (validation split for the optional val loss)."""
    from lrfinder.range_test import run_range_test

    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val")
    label = f"range test ({config.mode}, {config.n_seeds} replicas)"
    result = run_range_test(
        x,
        y,
        config,
        x_val,
        y_val,
        map_groups=group_map("sweep-progress", label, config.gpus_per_group),
    )
    summary = result.summary
    task_logger().info(
        "range test on %s: %d of %d steps in %.1f s (%.0f model-steps/s); diverged at lr %s",
        summary["device"],
        summary["steps_run"],
        summary["steps_planned"],
        summary["seconds"],
        summary["model_steps_per_second"],
        [None if d["lr"] is None else round(d["lr"], 4) for d in summary["diverged"]],
    )
    return result


@task(name="write-sweep-outputs")
def write_sweep(run_dir: Path, result) -> list[str]:
    return sorted(str(p) for p in write_range_test(run_dir, result.table, result.summary).values())
