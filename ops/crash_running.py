"""Mark the flow runs that `make serve`'s worker started, and their subflow runs, as Crashed when
they are still Running or Pending after their processes were stopped: `ops/serve.sh` calls this
when it shuts down, so no run stays Running in the UI. Runs of other workers are left alone.

Usage: python ops/crash_running.py API_URL PID...  (the processes the worker had started)"""

from __future__ import annotations

import socket
import sys

import httpx

MESSAGE = "make serve stopped while the run was in progress"
UNFINISHED = {"state": {"type": {"any_": ["RUNNING", "PENDING"]}}}


def _unfinished(api: str, query: dict) -> list[dict]:
    body = {"flow_runs": {**UNFINISHED, **query}}
    return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=5).json()


def crash_running(api: str, pids: list[int]) -> list[str]:
    """Crash the unfinished flow runs whose process (`infrastructure_pid`: the pid, or host:pid)
    is one of `pids` here, then their unfinished subflow runs; returns the runs' names."""
    host = socket.gethostname()
    ours = {str(pid) for pid in pids} | {f"{host}:{pid}" for pid in pids}
    runs = [run for run in _unfinished(api, {}) if run.get("infrastructure_pid") in ours]
    parents = [run["id"] for run in runs]
    if parents:
        runs += _unfinished(api, {"parent_flow_run_id": {"any_": parents}})
    for run in runs:
        state = {"type": "CRASHED", "name": "Crashed", "message": MESSAGE}
        httpx.post(
            f"{api}/flow_runs/{run['id']}/set_state",
            json={"state": state, "force": True},
            timeout=5,
        ).raise_for_status()
    return [run["name"] for run in runs]


if __name__ == "__main__":
    for name in crash_running(sys.argv[1], [int(pid) for pid in sys.argv[2:]]):
        print(f"flow run {name}: Crashed ({MESSAGE})")
