"""A watcher for a process that runs flows: a small process of its own, told of each flow run
and local server, that acts only if the process dies without unwinding (SIGKILL, the
out-of-memory killer, a fatal error) and so cannot record that itself. It then marks the
unfinished flow runs Crashed (a run left Running cannot be retried) and stops the local server
the process had started. Run as a script, this file is that watcher."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

STOP_TIMEOUT_S = 3
REQUEST_TIMEOUT_S = 10
UNFINISHED = {"RUNNING", "PENDING", "CANCELLING"}
CRASHED = (
    "its process ended without reporting (killed: SIGKILL, or out of memory); "
    "a retry resumes it from the finished stages"
)


class _Watcher:
    """This process's watcher, started at the first message: told of each flow run and local
    server, it acts only if this process ends without saying goodbye (an `atexit` hook, which a
    hard death skips)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._owner = 0

    def tell(self, *words: object) -> None:
        with self._mutex:
            try:
                process = self._process if self._owner == os.getpid() else None
                if process is None or process.poll() is not None:
                    self._start()
                self._process.stdin.write(" ".join(str(w) for w in words) + "\n")
                self._process.stdin.flush()
            except (OSError, ValueError):
                self._process = None

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-P", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        if self._owner != os.getpid():
            atexit.register(self.dismiss)
        self._owner = os.getpid()

    def dismiss(self) -> None:
        """Normal exit (Prefect records how its runs ended itself): the watcher just ends."""
        with self._mutex:
            if self._process is None or self._owner != os.getpid():
                return
            try:
                self._process.stdin.write("done\n")
                self._process.stdin.close()
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass


WATCHER = _Watcher()


def watch_flow_run(api: str, flow_run_id: str, run_count: int) -> None:
    """Have this process's flow run (in this attempt, `run_count`) and its unfinished task runs
    marked Crashed, should this process die without reporting their end."""
    WATCHER.tell("run", api, flow_run_id, run_count)


def watch_server(pid: int) -> None:
    """Have the local server `pid` (started by this process) stopped, should this process die
    without stopping it; identified by its start time, as a pid can be reused."""
    WATCHER.tell("server", pid, _start_time(pid))


def _start_time(pid: int) -> int:
    """A live process's start time (clock ticks since boot, from /proc), or 0: gone, a zombie,
    or no /proc here."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return 0 if fields[0] == "Z" else int(fields[19])


def _headers() -> dict[str, str]:
    key = os.environ.get("PREFECT_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _crash(api: str, flow_run_id: str, run_count: int) -> str | None:
    """Mark the flow run Crashed if it is unfinished and still in this process's attempt, and
    its unfinished task runs; returns its name when it did."""
    with httpx.Client(base_url=api, headers=_headers(), timeout=REQUEST_TIMEOUT_S) as client:
        run = client.get(f"/flow_runs/{flow_run_id}").json()
        if run["state"]["type"] not in UNFINISHED or run["run_count"] != run_count:
            return None
        crashed = {"state": {"type": "CRASHED", "name": "Crashed", "message": CRASHED}}
        client.post(
            f"/flow_runs/{flow_run_id}/set_state", json=crashed | {"force": True}
        ).raise_for_status()
        query = {
            "flow_runs": {"id": {"any_": [flow_run_id]}},
            "task_runs": {"state": {"type": {"any_": sorted(UNFINISHED)}}},
        }
        for task_run in client.post("/task_runs/filter", json=query).json():
            client.post(f"/task_runs/{task_run['id']}/set_state", json=crashed | {"force": True})
        return run["name"]


def _stop_server(pid: int, started: int) -> None:
    """Stop the server's process group if it is still the process that started at `started`."""
    if not started or _start_time(pid) != started:
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _start_time(pid) == started and time.monotonic() < deadline:
        time.sleep(0.1)
    if _start_time(pid) == started:
        os.killpg(pid, signal.SIGKILL)


def watch(lines: Iterable[str]) -> None:
    """The watcher: collect what the process tells until it says `done`; at the end of its
    messages without that (the process died), crash its unfinished runs, then stop its server."""
    runs: dict[tuple[str, str], int] = {}
    servers: list[tuple[int, int]] = []
    for line in lines:
        kind, *args = line.split()
        if kind == "done":
            return
        if kind == "run":
            api, flow_run_id, run_count = args
            runs[api, flow_run_id] = int(run_count)
        elif kind == "server":
            pid, started = args
            servers.append((int(pid), int(started)))
    for (api, flow_run_id), run_count in runs.items():
        try:
            name = _crash(api, flow_run_id, run_count)
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            continue
        if name:
            print(f"flow run '{name}' ({flow_run_id}): Crashed, {CRASHED}", file=sys.stderr)
    for pid, started in servers:
        try:
            _stop_server(pid, started)
        except OSError:
            continue


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(sys.stdin)
