"""Tasks that open a run's folder under artifacts/ and point `artifacts/latest` at it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.runtime import flow_run

from lrfinder.reporting.outputs import point_latest, run_folder_name
from lrfinder.settings import Settings
from tasks.logs import task_logger


@task(name="open-run-folder")
def open_run_folder(settings: Settings) -> Path:
    """Name this run's folder after the flow run (a retry of the run reuses it)."""
    started = flow_run.scheduled_start_time or datetime.now(UTC)
    return settings.artifacts_dir / run_folder_name(started, flow_run.name or "run")


@task(name="finish-run")
def finish_run(settings: Settings, run_dir: Path) -> str:
    """Point artifacts/latest at this run's folder."""
    point_latest(settings.artifacts_dir, run_dir)
    task_logger().info("run outputs in %s", run_dir)
    return str(run_dir)
