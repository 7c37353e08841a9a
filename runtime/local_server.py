"""A Prefect server on a free loopback port for one process's runs: what `make run` uses when no
PREFECT_API_URL is set, in place of Prefect's own temporary server. It runs in a session of its
own, so a Ctrl-C in the terminal reaches only the flow's process: the run's end (Crashed) is
recorded before the server stops, instead of the flow waiting on a server that died with it.

Two `make run`s at once each start one on the same SQLite database, which SQLite allows; the
servers start one at a time (a lock in Prefect's home), since two that create or upgrade the
database together break it, and they append to one `server.log`. Should this process be killed
outright, `runtime/watcher.py` stops the server it started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
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
def local_server(
    home: Path, ui: bool = False, services: bool = False, watched: bool = False
) -> Iterator[str]:
    """`prefect server start` with its SQLite database and log (`server.log`) in `home`; waits
    until /api/health answers, yields the API URL and stops the server afterwards (`watched`:
    the watcher stops it should this process be killed). Servers on one home start one after
    the other: each creates or upgrades the database as it starts."""
    from lrfinder.fileio import exclusive_lock
    from runtime.watcher import watch_server

    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    with exclusive_lock(home / "server.lock"):
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
        with open(log_path, "ab") as log:
            log.write(f"--- {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, port {port}\n".encode())
            log.flush()
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if watched:
            watch_server(process.pid)
        url = f"http://127.0.0.1:{port}/api"
        try:
            _wait_until_healthy(process, url, log_path)
        except BaseException:
            _stop(process)
            raise
    try:
        yield url
    finally:
        _stop(process)


def _wait_until_healthy(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server did not start: see {log_path}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Prefect server is not healthy after {START_TIMEOUT_S} s")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def api_for_this_run() -> Iterator[None]:
    """The Prefect API the settings name, or else a `local_server` in Prefect's home for as long
    as this process runs flows (stopped by the watcher should the process be killed)."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url:
        yield
        return
    home = Path(settings.home)
    with local_server(home, watched=True) as url, temporary_settings({PREFECT_API_URL: url}):
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
