"""Tasks for the data stages: locate (with download retries), load/clean, split/scale, write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.tasks import exponential_backoff

from lrfinder.data import cleaning, sources, splitting
from lrfinder.data.checks import twin_warning
from lrfinder.data.cleaning import CleanData, LabelRule
from lrfinder.data.sources import DataSource
from lrfinder.data.splitting import SplitData
from lrfinder.errors import TransientDownloadError
from lrfinder.params import SplitSettings
from lrfinder.paths import Paths
from lrfinder.reporting.outputs import write_data_outputs
from runtime.cache_keys import content_cache
from runtime.logs import task_logger


def retry_on_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry only failures that a retry can fix (network errors, HTTP 5xx/429)."""
    try:
        state.result()
    except TransientDownloadError:
        return True
    except Exception:
        return False
    return False


@task(
    name="locate-data",
    retries=4,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_condition_fn=retry_on_transient,
)
def locate_data(data: str | None, paths: Paths) -> DataSource:
    """Resolve the input files (downloading if needed) and hash them."""
    source = sources.resolve_source(data, paths.wine_data, paths.data_dir, paths.uci_base_url)
    for file in source.files:
        task_logger().info("input %s sha256=%s (%s)", file.path, file.sha256, source.origin)
    return source


@task(name="load-clean", cache_policy=content_cache(), persist_result=True)
def load_clean(source: DataSource, rule: LabelRule) -> CleanData:
    """Read the input files, drop rows with missing values, and make the features and label."""
    clean = cleaning.clean(source, rule)
    report = clean.report
    task_logger().info(
        "%d rows read, %d dropped for missing values, %d clean (%d exact duplicates), label %s",
        report["rows_read"],
        report["rows_dropped_missing"],
        report["rows_clean"],
        report["duplicate_rows"],
        report["label_rule"],
    )
    if report["ignored_columns"]:
        task_logger().warning(
            "the wine preset ignores the file's columns %s; to use them as features, read the "
            "file as own data: --target quality and the same label rule (%s)",
            ", ".join(report["ignored_columns"]),
            report["label_rule"],
        )
    return clean


@task(name="split-scale", cache_policy=content_cache(), persist_result=True)
def split_scale(clean: CleanData, settings: SplitSettings) -> SplitData:
    """Split into train/validation/test and standardise on the train split only."""
    split = splitting.split_and_scale(clean, settings)
    task_logger().info("split %s, leakage %s", split.report["rows"], split.report["leakage"])
    return split


@task(name="write-data-outputs")
def write_data(run_dir: Path, source: DataSource, clean: CleanData, split: SplitData) -> list[str]:
    """Materialise the (possibly cached) stage results as files in this run's folder; warn,
    before any training, when most validation or test rows repeat a training row."""
    if warning := twin_warning(split):
        task_logger().warning(warning)
    return sorted(str(path) for path in write_data_outputs(run_dir, source, clean, split).values())
