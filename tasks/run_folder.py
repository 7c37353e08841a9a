"""Tasks that open a run's folder under artifacts/ and point `artifacts/latest` at it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.settings import get_current_settings

from lrfinder.paths import Paths
from lrfinder.reporting.outputs import point_latest, run_folder_name
from runtime.logs import task_logger
from runtime.watcher import watch_flow_run


@task(name="open-run-folder")
def open_run_folder(paths: Paths) -> Path:
    """Name this run's folder after the flow run (a retry of the run reuses it)."""
    mark_crashed_if_killed()
    started = flow_run.scheduled_start_time or datetime.now(UTC)
    return paths.artifacts_dir / run_folder_name(started, flow_run.name or "run")


def mark_crashed_if_killed() -> None:
    """Have this ad-hoc flow run and its parent (the cluster subflow's) marked Crashed should
    this process be killed outright (`runtime.watcher`): Prefect retries no run that is left
    Running. Deployment runs are left to Prefect's own mechanism: their heartbeats stop, and
    the automation `make serve` creates marks them Crashed (docs/scheduling.md)."""
    api, context = get_current_settings().api.url, FlowRunContext.get()
    if not api or context is None or context.flow_run is None:
        return
    run = context.flow_run
    watched = [run]
    if run.parent_task_run_id is not None:
        with get_client(sync_client=True) as client:
            parent_id = client.read_task_run(run.parent_task_run_id).flow_run_id
            if parent_id is not None:
                watched.append(client.read_flow_run(parent_id))
    if any(found.deployment_id is not None for found in watched):
        return
    for found in watched:
        watch_flow_run(api, str(found.id), found.run_count)


@task(name="finish-run")
def finish_run(paths: Paths, run_dir: Path) -> str:
    """Point artifacts/latest at this run's folder, unless a newer run has completed."""
    link = point_latest(paths.artifacts_dir, run_dir)
    task_logger().info("run outputs in %s", run_dir)
    if link.resolve() != run_dir.resolve():
        task_logger().info("artifacts/latest stays at %s, a newer run", link.resolve().name)
    return str(run_dir)
