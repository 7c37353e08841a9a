"""Choosing the rate as a cached task, and writing its report and charts."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from lrfinder.outputs import write_selection
from lrfinder.plots import confirmation_chart, lr_finder_chart
from lrfinder.range_config import RangeTestConfig
from lrfinder.select_config import SelectConfig
from lrfinder.splitting import SplitData
from tasks.caching import content_cache
from tasks.groups import group_map
from tasks.logs import task_logger

SELECTION_MODULES = (
    "lrfinder.selection",
    "lrfinder.suggest",
    "lrfinder.confirm",
    "lrfinder.training",
    "lrfinder.train_config",
    "lrfinder.engine",
    "lrfinder.groups",
)


@task(
    name="select",
    cache_policy=content_cache(*SELECTION_MODULES),
    persist_result=True,
)
def select(split: SplitData, curves, range_config: RangeTestConfig, config: SelectConfig):
    """Suggest from the range-test curves and confirm on the validation split."""
    from lrfinder.selection import select_rate

    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val")
    selection = select_rate(
        curves.table, x, y, x_val, y_val, range_config.seeds, range_config.hidden,
        range_config.batch_size, config, range_config.grouping,
        group_map(
            "confirmation-progress", "confirmation sweep (replica-epochs)", range_config.gpus_per_group
        ),
    )  # fmt: skip
    logger = task_logger()
    for warning in selection.summary["warnings"]:
        logger.warning(warning)
    logger.info("chosen learning rate %.4g: %s", selection.chosen_lr, selection.summary["reason"])
    return selection


@task(name="write-selection-outputs")
def write_select(run_dir: Path, curves, selection) -> list[str]:
    charts = {
        "lr_finder.png": lr_finder_chart(curves.table, selection.aggregates, selection.chosen_lr)
    }
    if selection.confirmation is not None:
        metric = selection.summary["config"]["confirmation"]["metric"]
        charts["confirmation.png"] = confirmation_chart(
            selection.confirmation.by_rate, selection.chosen_lr, metric
        )
    return sorted(str(p) for p in write_selection(run_dir, selection.summary, charts).values())
