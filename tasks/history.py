"""Record the run in the history, promote its model when the rule says so, and emit the events
the alert automation listens for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events import emit_event
from prefect.runtime import flow_run

from lrfinder.data.sources import DataSource
from lrfinder.data.splitting import SplitData
from lrfinder.lr.selection import Selection
from lrfinder.params import RunSettings
from lrfinder.paths import Paths
from lrfinder.reporting.comparison import dropped
from lrfinder.reporting.history import Recorded, RunInfo, record_run, run_record
from lrfinder.training.results import Evaluation
from runtime.logs import task_logger

GATE_FAILED = "lr-finder.gate.failed"
METRIC_DROPPED = "lr-finder.metric.dropped"


def this_run() -> RunInfo:
    """The top-level flow run (the parent, for the cluster's subflow) as Prefect knows it."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run.root_flow_run_id or flow_run.id)
        deployment = None
        if run.deployment_id is not None:
            flow = client.read_flow(run.flow_id)
            deployment = f"{flow.name}/{client.read_deployment(run.deployment_id).name}"
    now = datetime.now(UTC)
    running = run.total_run_time.total_seconds()
    if run.state is not None and run.state.type == StateType.RUNNING:
        running += (now - run.state.timestamp).total_seconds()
    started = run.start_time or run.expected_start_time or now
    return RunInfo(str(run.id), run.name, deployment, started, running)


@task(name="record-run")
def record(
    paths: Paths,
    run_dir: Path,
    source: DataSource,
    split: SplitData,
    selection: Selection,
    evaluation: Evaluation,
    settings: RunSettings,
) -> Recorded:
    """Append this run to artifacts/history.parquet, compare it with the previous run of its
    deployment, promote its model (artifacts/production) when the promotion rule says so, and
    emit an alert event when the quality gate failed or the test metric dropped beyond the
    previous run's interval."""
    row = run_record(this_run(), run_dir, source, split, evaluation, selection, settings)
    recorded = record_run(paths.artifacts_dir, row)
    record, previous = recorded.record, recorded.previous
    task_logger().info(
        "recorded in history.parquet (runs recorded: %d); %s",
        len(recorded.history),
        record.promotion,
    )
    if recorded.again:  # a retry: its alerts went out with its first record
        return recorded
    resource = {
        "prefect.resource.id": f"prefect.flow-run.{record.run_id}",
        "prefect.resource.name": record.run_name,
    }
    if record.gate_message:
        emit_event(GATE_FAILED, resource=resource, payload={"message": record.gate_message})
    if dropped(record, previous):
        message = (
            f"test {record.metric} {record.chosen.value:.4f} dropped beyond the previous run's "
            f"interval {previous.chosen.text()} (run {previous.run_name})"
        )
        emit_event(METRIC_DROPPED, resource=resource, payload={"message": message})
        task_logger().warning(message)
    return recorded
