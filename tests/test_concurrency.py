"""Concurrent runs and a run killed with SIGKILL, with real processes against real Prefect
servers: two `make run`s at once (on the test session's server, and each on a local server of its
own over one shared database) both complete in folders of their own, every cached stage is
computed by one of them only, and `artifacts/latest` ends at the newest complete run; a run
killed in final training leaves no partial file and `latest` unchanged, is marked Crashed, and
`prefect flow-run retry` resumes it in its folder with the earlier stages Cached; a `make run`
killed outright is marked Crashed too and leaves no local server behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from lrfinder.reporting.outputs import point_latest
from runtime.local_server import local_server
from tests.helpers import (
    CACHED_STAGES,
    EARLIER,
    MODEL_FILES,
    ROOT,
    SMALL_SWEEP,
    cli_flags,
    partial_files,
)
from tests.prefect_api import latest_task_states, rest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PREFECT = str(Path(sys.executable).with_name("prefect"))
RUN_FILES = MODEL_FILES | {"report.md", "selection.json", "range_test.parquet", "train.parquet"}
FLOW_RUN_ID = re.compile(r"/runs/flow-run/([0-9a-f-]{36})")
WAIT_S = 300
CRASH_RECORDED_S = 30


class FlowProcess:
    """`python -m flows` (what `make run` runs) in a process of its own, its console collected by
    a thread; with `api` None it starts its own local Prefect server, as `make run` does."""

    def __init__(self, workdir: Path, settings: dict, api: str | None, home: Path | None = None):
        env = {
            **os.environ,
            "PREFECT_LOGGING_LEVEL": "INFO",
            "LRFINDER_ARTIFACTS_DIR": str(workdir / "artifacts"),
            "LRFINDER_DATA_DIR": str(workdir / "data"),
        }
        env.pop("PREFECT_API_URL", None)
        if api is not None:
            env["PREFECT_API_URL"] = api
        if home is not None:  # Prefect's home, with the result storage in it
            env["PREFECT_HOME"] = str(home)
            env.pop("PREFECT_LOCAL_STORAGE_PATH", None)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows", *cli_flags(settings)], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def console(self) -> str:
        return "".join(self.lines)

    def finish(self) -> int:
        status = self.process.wait(timeout=600)
        self._reader.join(timeout=30)
        return status

    def flow_run_id(self) -> str:
        found = wait_for(lambda: FLOW_RUN_ID.search(self.console), WAIT_S, "the flow run's id")
        return found.group(1)

    def run_dir(self) -> Path:
        line = next(x for x in self.lines if x.startswith("Run outputs: "))
        return Path(line.removeprefix("Run outputs: ").strip())

    def stage_states(self) -> dict[str, str]:
        """Stage -> the state its task run finished in, read from the console."""
        states = {}
        for name in CACHED_STAGES:
            line = next(x for x in self.lines if f"Task run '{name}-" in x and "Finished" in x)
            states[name] = line.split("Finished in state ")[1].split("(")[0]
        return states

    def kill_tree(self) -> None:
        """SIGKILL what is left of the process and its children (the end of a failed test)."""
        try:
            tree = [psutil.Process(self.process.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.wait(timeout=30)


def wait_for(check: Callable, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {seconds} s")
        time.sleep(0.2)
    return result


def run_folders(artifacts: Path) -> list[Path]:
    return sorted(p for p in artifacts.iterdir() if p.is_dir() and not p.is_symlink())


def assert_both_complete_and_latest_at_the_newer(runs: list[FlowProcess], artifacts: Path):
    for run in runs:
        assert run.finish() == 0, run.console[-3000:]
    folders = [run.run_dir() for run in runs]
    assert folders[0] != folders[1]
    assert run_folders(artifacts) == sorted(folders)
    for folder in folders:
        assert {p.name for p in folder.iterdir()} >= RUN_FILES, sorted(folder.iterdir())
    # The newest run is the one started last; folder names sort by start time.
    assert (artifacts / "latest").resolve() == max(folders).resolve()
    assert partial_files(artifacts) == []
    for name in CACHED_STAGES:
        states = sorted(run.stage_states()[name] for run in runs)
        assert states == ["Cached", "Completed"], (name, states)


def assert_no_record_is_partial(storage: Path, since: float) -> None:
    """Every cache record written to the result storage since `since` (a time.time()) reads
    back whole."""
    from prefect.results import ResultRecord

    records = [p for p in storage.iterdir() if p.is_file() and p.stat().st_mtime >= since]
    assert records
    for path in records:
        ResultRecord.deserialize(path.read_bytes())


def test_latest_stays_at_the_newest_run_when_an_older_one_finishes_later(tmp_path):
    older = tmp_path / "20261129-020000-nightly-owl"
    newer = tmp_path / "20261129-020500-manual-fox"
    older.mkdir()
    newer.mkdir()
    point_latest(tmp_path, newer)
    point_latest(tmp_path, older)  # the scheduled run, started first, finishes last
    assert (tmp_path / "latest").resolve() == newer.resolve()
    point_latest(tmp_path, newer)  # a retry of the newest run
    assert (tmp_path / "latest").resolve() == newer.resolve()
    newer.rename(tmp_path / "removed")  # a newest run deleted by hand no longer counts
    point_latest(tmp_path, older)
    assert (tmp_path / "latest").resolve() == older.resolve()


def test_runs_finishing_together_in_one_process_repoint_latest_safely(tmp_path):
    folders = [tmp_path / f"20261129-0200{i:02d}-run" for i in range(12)]
    for folder in folders:
        folder.mkdir()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda folder: point_latest(tmp_path, folder), folders * 8))
    assert (tmp_path / "latest").resolve() == folders[-1].resolve()
    assert partial_files(tmp_path) == []


def test_two_runs_started_together_on_one_server_both_complete(prefect_api, wine_sample, tmp_path):
    # A file of its own (one row repeated): no earlier test in the session cached its stages.
    data = tmp_path / "wine.csv"
    text = wine_sample.read_text()
    data.write_text(text + text.rstrip("\n").rsplit("\n", 1)[1] + "\n")
    settings = SMALL_SWEEP | {"data": str(data), "seed": 41}
    started = time.time()
    runs = [FlowProcess(tmp_path, settings, prefect_api) for _ in range(2)]
    try:
        assert_both_complete_and_latest_at_the_newer(runs, tmp_path / "artifacts")
    finally:
        for run in runs:
            run.kill_tree()
    assert_no_record_is_partial(Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"]), started)


def test_two_make_runs_without_a_server_share_the_database(wine_sample, tmp_path):
    """Each starts its own local server on one fresh Prefect home, with the result storage in
    it (the `.prefect/` of a new checkout): the servers set the database up one at a time."""
    home = tmp_path / "prefect-home"
    settings = SMALL_SWEEP | {"data": str(wine_sample), "seed": 41}
    runs = [FlowProcess(tmp_path, settings, None, home) for _ in range(2)]
    try:
        assert_both_complete_and_latest_at_the_newer(runs, tmp_path / "artifacts")
    finally:
        for run in runs:
            run.kill_tree()
    log = (home / "server.log").read_text()
    starts = [line for line in log.splitlines() if line.startswith("--- ")]
    assert len(starts) == 2 and "Traceback" not in log, log[-3000:]
    assert_no_record_is_partial(home / "storage", since=0.0)


def test_a_run_killed_in_final_training_is_resumed_by_flow_run_retry(
    prefect_api, wine_sample, tmp_path
):
    artifacts = tmp_path / "artifacts"
    earlier = artifacts / "20000101-000000-earlier-run"
    earlier.mkdir(parents=True)
    (earlier / "model.keras").write_bytes(b"a complete earlier run")
    (artifacts / "latest").symlink_to(earlier.name)

    # Without a race the train stage trains for itself (with one it keeps the race's replicas).
    training_itself = {"confirm": False, "max_epochs": 4, "patience": 4}
    settings = SMALL_SWEEP | {"data": str(wine_sample), "seed": 43, **training_itself}
    run = FlowProcess(tmp_path, settings, prefect_api)
    try:
        flow_run_id = run.flow_run_id()

        def training() -> bool:
            body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
            runs = rest(prefect_api, "task_runs/filter", body)
            return any(
                run["name"].startswith("train-") and (run["state"] or {}).get("name") == "Running"
                for run in runs
            )

        wait_for(training, WAIT_S, f"final training:\n{run.console[-3000:]}")
        helpers = psutil.Process(run.process.pid).children(recursive=True)
        os.kill(run.process.pid, signal.SIGKILL)
        assert run.finish() == -signal.SIGKILL
    finally:
        run.kill_tree()

    assert partial_files(artifacts) == []
    assert (artifacts / "latest").resolve() == earlier.resolve()
    (killed,) = [p for p in run_folders(artifacts) if p != earlier]
    assert "model.keras" not in {p.name for p in killed.iterdir()}

    def state() -> str:
        return rest(prefect_api, f"flow_runs/{flow_run_id}")["state"]["name"]

    wait_for(lambda: state() == "Crashed", CRASH_RECORDED_S, "Crashed state of the killed run")
    assert latest_task_states(prefect_api, flow_run_id, {"train"})["train"] == "Crashed"
    _, alive = psutil.wait_procs(helpers, timeout=CRASH_RECORDED_S)
    assert alive == [], [p.cmdline() for p in alive]

    retried = datetime.now(UTC)
    retry = subprocess.run(
        [PREFECT, "flow-run", "retry", flow_run_id, "--entrypoint", "flows/lr_finder.py:lr_finder"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "LRFINDER_ARTIFACTS_DIR": str(artifacts)},
    )  # fmt: skip
    assert retry.returncode == 0, retry.stdout[-3000:] + retry.stderr[-3000:]
    assert state() == "Completed"
    after = latest_task_states(prefect_api, flow_run_id, {*EARLIER, "train"}, since=retried)
    assert {name: after[name] for name in EARLIER} == dict.fromkeys(EARLIER, "Cached")
    assert after["train"] == "Completed"
    assert run_folders(artifacts) == [earlier, killed]
    assert (artifacts / "latest").resolve() == killed.resolve()
    assert {p.name for p in killed.iterdir()} >= MODEL_FILES
    assert partial_files(artifacts) == []


def test_a_killed_make_run_is_recorded_crashed_and_leaves_no_server_running(wine_sample, tmp_path):
    home = tmp_path / "prefect-home"
    run = FlowProcess(tmp_path, SMALL_SWEEP | {"data": str(wine_sample), "seed": 47}, None, home)
    try:
        flow_run_id = run.flow_run_id()
        wait_for(lambda: "Task run 'open-run-folder-" in run.console, WAIT_S, "the run folder")
        helpers = psutil.Process(run.process.pid).children(recursive=True)
        servers = [p for p in helpers if "server" in p.cmdline()]
        assert len(servers) == 1, [p.cmdline() for p in helpers]
        os.kill(run.process.pid, signal.SIGKILL)
        assert run.finish() == -signal.SIGKILL
    finally:
        run.kill_tree()
    _, alive = psutil.wait_procs(helpers, timeout=CRASH_RECORDED_S)
    assert alive == [], [p.cmdline() for p in alive]
    with local_server(home) as api:
        assert rest(api, f"flow_runs/{flow_run_id}")["state"]["name"] == "Crashed"
