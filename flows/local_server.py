"""A Prefect server on a free loopback port for one process's runs: what `make run` uses when no
PREFECT_API_URL is set, in place of Prefect's own temporary server. It runs in a session of its
own, so a Ctrl-C in the terminal reaches only the flow's process: the run's end (Crashed) is
recorded before the server stops, instead of the flow waiting on a server that died with it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 3
DRAIN_TIMEOUT_S = 3  # for the log and the event queues together


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def local_server(home: Path, ui: bool = False, services: bool = False) -> Iterator[str]:
    """`prefect server start` with its SQLite database and log (`server.log`) in `home`; waits
    until /api/health answers, yields the API URL and stops the server afterwards."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)
    command = [str(Path(sys.executable).with_name("prefect")), "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--ui" if ui else "--no-ui"]
    command += [] if services else ["--no-services"]
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the Prefect server did not start: see {log_path}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server is not healthy after {START_TIMEOUT_S} s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def api_for_this_run() -> Iterator[None]:
    """The Prefect API the settings name, or else a `local_server` in Prefect's home for as long
    as this process runs flows."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url:
        yield
        return
    with local_server(Path(settings.home)) as url, temporary_settings({PREFECT_API_URL: url}):
        try:
            yield
        finally:
            _send_pending_logs_and_events()


def _send_pending_logs_and_events() -> None:
    """Deliver the logs and state events still queued in this process while the server is up
    (Prefect would otherwise try at exit, against a stopped server, for many seconds)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=max(deadline - time.monotonic(), 0.1))
