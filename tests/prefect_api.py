"""Reading run results back through the Prefect API."""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.sorting import ArtifactSort

FINAL = {"Completed", "Cached", "Failed", "Crashed", "Cancelled"}


def task_states(flow_run_id: UUID, expected: int, attempts: int = 100) -> dict[str, str]:
    """Task name (without its run suffix) -> final state name, once `expected` runs are recorded."""
    states: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        for _ in range(attempts):
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            states = {run.name.rsplit("-", 1)[0]: run.state.name for run in runs if run.state}
            if len(states) >= expected and set(states.values()) <= FINAL:
                return states
            time.sleep(0.1)
    raise TimeoutError(f"expected {expected} final task runs, found {states}")


def subflow_run_id(parent_flow_run_id: UUID) -> UUID:
    """The id of the one subflow run started by a flow run."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_flow_run_id])
            )
        )
    assert len(runs) == 1, [run.name for run in runs]
    return runs[0].id


def latest_progress(key: str) -> float | None:
    """The progress (percent) of the newest artifact with `key`."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return float(artifacts[0].data) if artifacts else None


def rest(api: str, path: str, body: dict | None = None) -> list | dict:
    """One call to the server's REST API: GET without a body, POST (a filter) with one."""
    if body is None:
        response = httpx.get(f"{api}/{path}", timeout=30)
    else:
        response = httpx.post(f"{api}/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def latest_task_states(
    api: str, flow_run_id: str, names: Collection[str], since: datetime | None = None
) -> dict[str, str]:
    """Stage name -> state of its newest task run in the flow run (a retry adds new ones), once
    the newest run of every stage in `names` has reached a final state (states arrive as events,
    a moment after the run returns). `since`: only task runs created then or later (a retry's,
    whose task runs may reach the server after the flow run's end)."""
    deadline = time.monotonic() + 60
    while True:
        runs = rest(api, "task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})
        if since is not None:
            runs = [run for run in runs if datetime.fromisoformat(run["created"]) >= since]
        runs.sort(key=lambda run: run["created"])
        # A task run created a moment ago may have no state yet.
        states = {run["name"].rsplit("-", 1)[0]: (run["state"] or {}).get("name") for run in runs}
        if all(states.get(name) in FINAL for name in names):
            return states
        if time.monotonic() > deadline:
            pending = {name: states.get(name) for name in names if states.get(name) not in FINAL}
            raise TimeoutError(f"task runs not final after 60 s: {pending}")
        time.sleep(0.2)
