"""`make serve` as a user runs it (ops/serve.sh): server, work pool, the deployments of
prefect.yaml and a worker; a run triggered through the REST API completes on the worker; one
Ctrl-C or one SIGTERM stops everything, and a second `make serve` right after works; a cancel of
a deployment run in training ends its process within seconds, and its retry reuses the finished
stages."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import EARLIER, SMALL_SWEEP, WIDE, flow_parameters, partial_files
from tests.prefect_api import latest_task_states
from tests.prefect_server import free_port
from tests.serving import FINAL, STOP_LIMIT_S, Serve, finished, flow_run_process, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _cancel_in_training_then_retry(serve: Serve, settings: dict, artifacts: Path) -> None:
    """Trigger a run, cancel it through the API once the race (the select stage, which trains
    the final models) is under way: its process ends within STOP_LIMIT_S and it ends Cancelled
    with no half-written file; `prefect flow-run retry` then completes it with the earlier
    stages Cached."""
    latest = artifacts / "latest"
    before = latest.resolve()
    flow_run_id = serve.trigger(flow_parameters(**settings))
    process = flow_run_process(serve, flow_run_id)

    def training() -> bool:
        return latest_task_states(serve.api, flow_run_id, set()).get("select") == "Running"

    wait_for(training, 300, f"the race ({serve.log})")
    time.sleep(1)
    started = time.monotonic()
    response = httpx.post(
        f"{serve.api}/flow_runs/{flow_run_id}/set_state",
        json={"state": {"type": "CANCELLING", "name": "Cancelling"}},
        timeout=10,
    )
    response.raise_for_status()
    psutil.wait_procs([process], timeout=STOP_LIMIT_S + 20)
    assert time.monotonic() - started <= STOP_LIMIT_S, serve.log.read_text()[-3000:]
    wait_for(lambda: serve.state(flow_run_id) == "Cancelled", 30, f"Cancelled ({serve.log})")
    assert partial_files(artifacts) == [] and latest.resolve() == before

    retried = serve.retry(flow_run_id)
    wait_for(lambda: serve.state(flow_run_id) in FINAL, 600, f"the retry ({serve.log})")
    assert serve.state(flow_run_id) == "Completed", serve.log.read_text()[-3000:]
    after = latest_task_states(serve.api, flow_run_id, {*EARLIER, "train"}, since=retried)
    before_race = [name for name in EARLIER if name != "select"]
    assert {name: after[name] for name in before_race} == dict.fromkeys(before_race, "Cached")
    assert after["select"] == after["train"] == "Completed"
    assert latest.resolve() != before and (latest / "model.keras").is_file()


def test_make_serve_runs_a_triggered_run_and_stops_on_one_signal(tmp_path, wine_csv):
    port = free_port()
    small = SMALL_SWEEP | {"data": str(wine_csv)}
    first = Serve(tmp_path, port, "serve-1")
    try:
        found = first.deployment()
        schedules = [s["schedule"] for s in found["schedules"]]
        assert {"cron": "0 2 * * *", "timezone": "UTC"}.items() <= schedules[0].items()
        assert found["work_pool_name"] == "lr-finder-process"
        completed = first.trigger(flow_parameters(**small))
        assert finished(first, completed) == "Completed", first.log.read_text()[-3000:]
        assert (tmp_path / "artifacts" / "latest" / "report.md").is_file()
        interrupted = first.trigger(flow_parameters(**small, seed=21))
        wait_for(lambda: first.state(interrupted) == "Running", 240, f"a run ({first.log})")
        assert first.stop(signal.SIGINT) == 128 + signal.SIGINT  # Ctrl-C, a run in progress
    finally:
        first.kill()
    assert "Stopping the worker and its runs, then the server" in first.log.read_text()

    second = Serve(tmp_path, port, "serve-2")  # same port and database, right after
    try:
        second.deployment()
        assert second.state(interrupted) == "Crashed", first.log.read_text()[-3000:]
        long_training = small | WIDE | {"seed": 22, "max_epochs": 50, "patience": 50}
        _cancel_in_training_then_retry(second, long_training, tmp_path / "artifacts")
        assert second.stop(signal.SIGTERM) == 128 + signal.SIGTERM  # idle
    finally:
        second.kill()
