"""Choosing the rate as a cached task, and writing its report and charts."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from lrfinder.data.checks import data_warnings, twin_warning
from lrfinder.data.splitting import SplitData
from lrfinder.finder import FoundRate
from lrfinder.lr.selection import Selection
from lrfinder.params import ExecutionSettings, SelectionSettings, TrainingProtocol
from lrfinder.reporting.outputs import write_selection
from lrfinder.reporting.plots import confirmation_chart, lr_finder_chart
from runtime.cache_keys import content_cache
from runtime.logs import task_logger
from tasks.groups import placement


@task(name="select", cache_policy=content_cache(), persist_result=True)
def select(
    split: SplitData,
    found: FoundRate,
    settings: SelectionSettings,
    protocol: TrainingProtocol | None,
    execution: ExecutionSettings,
) -> Selection:
    """Suggest from the range-test curves and confirm in a race of candidate rates and the
    baseline on the validation split, under the final training's protocol; warn where the
    data's size or class balance, or the curves, make the choice doubtful."""
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val_check")
    where = placement("confirmation-progress", "confirmation (replica-steps)", execution)
    doubts = tuple(data_warnings(split, found.recipe.batch_size))
    validation = (x_val, y_val) if len(x_val) else None
    selection = found.select(x, y, validation, settings, protocol, where, doubts).selection
    logger = task_logger()
    logged_with_the_data = twin_warning(split)  # by write-data-outputs, in every run
    for warning in selection.warnings:
        if warning != logged_with_the_data:
            logger.warning(warning)
    logger.info("chosen learning rate %.4g: %s", selection.chosen_lr, selection.reason)
    return selection


@task(name="write-selection-outputs")
def write_select(run_dir: Path, found: FoundRate, selection: Selection) -> list[str]:
    """Write selection.json and the range-test and confirmation charts into the run folder."""
    charts = {
        "lr_finder.png": lr_finder_chart(found.curves, selection.aggregates, selection.chosen_lr)
    }
    if selection.confirmation is not None:
        metric = selection.settings.confirm_metric
        charts["confirmation.png"] = confirmation_chart(
            selection.confirmation.by_rate, selection.chosen_lr, metric
        )
    return sorted(str(p) for p in write_selection(run_dir, selection, charts).values())
