"""`make serve` as a user runs it (ops/serve.sh): server, work pool, the deployments of
prefect.yaml and a worker; a run triggered through the REST API completes on the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import flow_parameters
from tests.prefect_server import free_port
from tests.test_flow_data import SMALL_SWEEP

ROOT = Path(__file__).resolve().parents[1]
FINAL = {"Completed", "Failed", "Crashed", "Cancelled"}


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := check():
                return found
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served(tmp_path: Path):
    """ops/serve.sh on a free port with its own Prefect home; stopped with Ctrl-C (SIGINT)."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "LRFINDER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    env.pop("PREFECT_API_URL", None)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        ["bash", "ops/serve.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield {
            "api": f"http://127.0.0.1:{port}/api",
            "log": tmp_path / "serve.log",
            "tmp": tmp_path,
        }
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_make_serve_deploys_the_nightly_schedule_and_runs_a_triggered_run(served, wine_csv):
    api = served["api"]

    def deployment():
        response = httpx.get(f"{api}/deployments/name/lr-finder/nightly", timeout=5)
        return response.json() if response.status_code == 200 else None

    found = _wait_for(deployment, 240, f"the deployment (log: {served['log']})")
    schedules = [s["schedule"] for s in found["schedules"]]
    assert {"cron": "0 2 * * *", "timezone": "UTC"}.items() <= schedules[0].items()
    assert found["work_pool_name"] == "lr-finder-process"

    parameters = flow_parameters(**(SMALL_SWEEP | {"data": str(wine_csv)}))
    flow_run = httpx.post(
        f"{api}/deployments/{found['id']}/create_flow_run",
        json={"parameters": parameters},
        timeout=10,
    ).json()

    def finished():
        state = httpx.get(f"{api}/flow_runs/{flow_run['id']}", timeout=5).json()["state"]
        return state if state and state["name"] in FINAL else None

    state = _wait_for(finished, 420, f"the flow run (log: {served['log']})")
    assert state["name"] == "Completed", served["log"].read_text()[-3000:]
    assert (served["tmp"] / "artifacts" / "latest" / "report.md").is_file()
