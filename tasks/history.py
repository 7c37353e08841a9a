"""Record the run in the history, promote its model when the rule says so, and emit the events
the alert automation listens for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.runtime import flow_run

from lrfinder.data.sources import DataSource
from lrfinder.data.splitting import SplitData
from lrfinder.lr.selection import Selection
from lrfinder.params import RunSettings
from lrfinder.reporting.history import (
    Recorded,
    RunRecord,
    data_identity,
    dropped,
    headline,
    record_run,
    rows_identity,
    settings_json,
)
from lrfinder.reporting.report import run_warnings
from lrfinder.settings import Settings
from lrfinder.training.gate import check_gate
from lrfinder.training.metric_names import HEADLINE
from tasks.logs import task_logger

GATE_FAILED = "lr-finder.gate.failed"
METRIC_DROPPED = "lr-finder.metric.dropped"


def _this_run() -> dict:
    """The top-level flow run (the parent, for the cluster's subflow): id, name, deployment
    ("flow/deployment", None when ad hoc) and start time."""
    run_id = flow_run.root_flow_run_id or flow_run.id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        deployment = None
        if run.deployment_id is not None:
            flow = client.read_flow(run.flow_id)
            deployment = f"{flow.name}/{client.read_deployment(run.deployment_id).name}"
    started = run.start_time or run.expected_start_time or datetime.now(UTC)
    return {
        "run_id": str(run.id),
        "run_name": run.name,
        "deployment": deployment,
        "started": started,
    }


@task(name="record-run")
def record(
    paths: Settings,
    run_dir: Path,
    source: DataSource,
    split: SplitData,
    selection: Selection,
    evaluation,
    settings: RunSettings,
) -> Recorded:
    """Append this run to artifacts/history.parquet, compare it with the previous run of its
    deployment, promote its model (artifacts/production) when it passed the gate and is not
    worse than production, and emit an alert event when the gate failed or the test metric
    dropped beyond the previous run's interval."""
    metrics, _ = evaluation
    run = _this_run()
    chosen, reference = headline(metrics)
    gate_message = check_gate(metrics, settings.quality_gate)
    record = RunRecord(
        **run,
        run_folder=run_dir.name,
        data_sha256=data_identity(source.describe()),
        test_rows_sha256=rows_identity(split.frames()["test"]),
        rows=sum(split.report["rows"].values()),
        task=split.task,
        settings=settings_json(settings.flat()),
        chosen_lr=float(metrics["chosen_lr"]),
        baseline_lr=float(metrics["baseline_lr"]),
        metric=HEADLINE[split.task],
        chosen=chosen,
        reference=reference,
        gate_metric=settings.quality_gate.metric_for(split.task),
        gate_passed=gate_message is None,
        gate_message=gate_message,
        duration_s=(datetime.now(UTC) - run["started"]).total_seconds(),
        warnings=tuple(run_warnings(selection.summary, gate_message)),
    )
    recorded = record_run(paths.artifacts_dir, record)
    record = recorded.record
    task_logger().info(
        "recorded in history.parquet (%d runs); %s", len(recorded.history), record.promotion
    )
    resource = {
        "prefect.resource.id": f"prefect.flow-run.{record.run_id}",
        "prefect.resource.name": record.run_name,
    }
    if gate_message:
        emit_event(GATE_FAILED, resource=resource, payload={"message": gate_message})
    if dropped(record, recorded.previous):
        previous = recorded.previous
        message = (
            f"test {record.metric} {record.chosen.value:.4f} dropped beyond the previous run's "
            f"interval {previous.chosen.text()} (run {previous.run_name})"
        )
        emit_event(METRIC_DROPPED, resource=resource, payload={"message": message})
        task_logger().warning(message)
    return recorded
