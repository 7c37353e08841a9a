"""Mark a work pool's flow runs that are still Running or Pending as Crashed: `make serve` calls
this when it stops, after their processes were signalled, so no run stays Running in the UI.

Usage: python ops/crash_running.py API_URL POOL"""

from __future__ import annotations

import sys

import httpx

MESSAGE = "make serve stopped while the run was in progress"


def crash_running(api: str, pool: str) -> list[str]:
    """Set every Running or Pending flow run of `pool` to Crashed; returns their names."""
    query = {
        "flow_runs": {"state": {"type": {"any_": ["RUNNING", "PENDING"]}}},
        "work_pools": {"name": {"any_": [pool]}},
    }
    runs = httpx.post(f"{api}/flow_runs/filter", json=query, timeout=5).json()
    for run in runs:
        state = {"type": "CRASHED", "name": "Crashed", "message": MESSAGE}
        httpx.post(
            f"{api}/flow_runs/{run['id']}/set_state",
            json={"state": state, "force": True},
            timeout=5,
        ).raise_for_status()
    return [run["name"] for run in runs]


if __name__ == "__main__":
    for name in crash_running(sys.argv[1], sys.argv[2]):
        print(f"flow run {name}: Crashed ({MESSAGE})")
