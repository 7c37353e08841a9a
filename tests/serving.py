"""`make serve` (ops/serve.sh) driven from a test: its server, deployments and worker, runs
triggered through the REST API, and a stop by signal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from tests.helpers import ROOT

FINAL = {"Completed", "Failed", "Crashed", "Cancelled"}
STOP_LIMIT_S = 10  # the bound; the script itself waits at most ~7 s, ~2 s measured


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := check():
                return found
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


class Serve:
    """ops/serve.sh on `port` with the Prefect home and artifacts under `tmp`."""

    def __init__(self, tmp: Path, port: int, name: str, **env_vars: str):
        env = {
            **os.environ,
            **env_vars,
            "PORT": str(port),
            "PREFECT_HOME": str(tmp / "prefect"),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "LRFINDER_ARTIFACTS_DIR": str(tmp / "artifacts"),
        }
        env.pop("PREFECT_API_URL", None)
        self.api = f"http://127.0.0.1:{port}/api"
        self.home = tmp / "prefect"
        self.log = tmp / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["bash", "ops/serve.sh"], cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def deployment(self) -> dict:
        def found():
            response = httpx.get(f"{self.api}/deployments/name/lr-finder/nightly", timeout=5)
            return response.json() if response.status_code == 200 else None

        return wait_for(found, 240, f"the deployment (log: {self.log})")

    def trigger(self, parameters: dict) -> str:
        """Create a run of the deployment (asked again after a 5xx: the server's SQLite database
        can be busy with a run's writes)."""
        url = f"{self.api}/deployments/{self.deployment()['id']}/create_flow_run"
        for _ in range(5):
            response = httpx.post(url, json={"parameters": parameters}, timeout=10)
            if response.status_code < 500:
                break
            time.sleep(2)
        assert response.status_code == 201, f"{response.status_code} {response.text} ({self.log})"
        return response.json()["id"]

    def retry(self, flow_run_id: str) -> datetime:
        """`prefect flow-run retry` on the run, as a user types it; returns when it was asked
        (the retry's task runs are created after it)."""
        env = {**os.environ, "PREFECT_API_URL": self.api, "PREFECT_HOME": str(self.home)}
        asked = datetime.now(UTC)
        retry = subprocess.run(
            [str(Path(sys.executable).with_name("prefect")), "flow-run", "retry", flow_run_id],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert retry.returncode == 0, retry.stdout[-3000:] + retry.stderr[-3000:]
        return asked

    def state(self, flow_run_id: str) -> str | None:
        state = httpx.get(f"{self.api}/flow_runs/{flow_run_id}", timeout=5).json()["state"]
        return state["name"] if state else None

    def stop(self, how: signal.Signals) -> int:
        """Ctrl-C (SIGINT to the process group, as a terminal sends it) or SIGTERM to the script;
        waits until every process of its tree is gone and returns the script's exit status."""
        tree = [self.process.pid]
        tree += [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]
        if how == signal.SIGINT:
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(how)
        status = self.process.wait(timeout=STOP_LIMIT_S)

        def gone():
            return not any(psutil.pid_exists(pid) for pid in tree)

        wait_for(gone, STOP_LIMIT_S, f"every process of make serve to end (log: {self.log})")
        return status

    def kill(self) -> None:
        """SIGKILL to the script and to everything it started: the server and the worker run in
        process groups of their own, which killing the script's group would leave running."""
        if self.process.poll() is None:
            tree = psutil.Process(self.process.pid).children(recursive=True)
            os.killpg(self.process.pid, signal.SIGKILL)
            for process in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            self.process.wait()


def flow_run_process(serve: Serve, flow_run_id: str) -> psutil.Process:
    """The worker's child process that runs `flow_run_id`."""

    def find():
        for child in psutil.Process(serve.process.pid).children(recursive=True):
            try:
                if child.environ().get("PREFECT__FLOW_RUN_ID") == flow_run_id:
                    return child
            except psutil.Error:
                continue
        return None

    return wait_for(find, 120, f"the process of flow run {flow_run_id}")


def finished(serve: Serve, run_id: str) -> str:
    return wait_for(
        lambda: serve.state(run_id) in FINAL and serve.state(run_id),
        420,
        f"the flow run (log: {serve.log})",
    )
