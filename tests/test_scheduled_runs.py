"""Scheduled runs a team can watch, on `make serve` (ops/serve.sh) with an alert receiver on
127.0.0.1: three deployment runs (the third on changed data, with a gate it cannot pass) leave
three history rows, a "Since the last run" section naming the change, a production model that
moved once and stayed when it should, and an alert; the history table shows in the Prefect UI;
and a run whose worker is killed with SIGKILL ends Crashed through the heartbeat automation and
resumes from its finished stages."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.helpers import EARLIER, SCREENSHOTS, SMALL_SWEEP, chromium, flow_parameters
from tests.prefect_api import latest_task_states, rest
from tests.prefect_server import free_port
from tests.serving import Serve, finished, flow_run_process, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
HEARTBEAT_WINDOW_S = 90  # three heartbeats of 30 s (prefect.yaml, ops/automations.py)
PROACTIVE_EVALUATION_S = 5  # Prefect evaluates proactive triggers this often
ZOMBIE_MESSAGE = "no heartbeat for 90 s"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.alerts.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[ThreadingHTTPServer]:
    """An HTTP receiver on 127.0.0.1 that keeps every alert posted to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.alerts = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def serve(tmp_path_factory, receiver) -> Iterator[Serve]:
    tmp = tmp_path_factory.mktemp("scheduled")
    running = Serve(tmp, free_port(), "serve", LRFINDER_ALERT_WEBHOOK_URL=receiver.url)
    try:
        running.deployment()
        yield running
    finally:
        running.kill()


def _production(artifacts: Path) -> str | None:
    link = artifacts / "production"
    return os.readlink(link) if link.is_symlink() else None


def _run(serve: Serve, settings: dict) -> str:
    """Trigger a deployment run and wait for it to complete; returns its name."""
    run_id = serve.trigger(flow_parameters(**settings))
    assert finished(serve, run_id) == "Completed", serve.log.read_text()[-3000:]
    return rest(serve.api, f"flow_runs/{run_id}")["name"]


def test_three_runs_keep_a_history_promote_once_and_alert_on_a_failed_gate(
    serve, receiver, wine_csv, tmp_path
):
    artifacts = serve.home.parent / "artifacts"
    small = SMALL_SWEEP | {"data": str(wine_csv)}
    first = _run(serve, small)
    promoted = _production(artifacts)
    assert promoted is not None and promoted.endswith(first)

    second = _run(serve, small)  # a rerun on the same data: same model (Cached)
    assert _production(artifacts) == promoted

    changed = tmp_path / "wine-changed.csv"
    lines = wine_csv.read_text().splitlines()
    changed.write_text("\n".join(lines[:-500]) + "\n")
    third = _run(serve, small | {"data": str(changed), "gate_value": 0.99})
    assert _production(artifacts) == promoted

    history = pd.read_parquet(artifacts / "history.parquet")
    assert history["run_name"].tolist() == [first, second, third]
    assert set(history["deployment"]) == {"lr-finder/nightly"}
    assert history["promoted"].tolist() == [True, False, False]
    assert history["gate_passed"].tolist() == [True, True, False]
    assert history["data_sha256"].nunique() == 2 and history["rows"].iloc[2] < history["rows"][0]
    assert history["chosen_low"].notna().all() and history["reference_low"].notna().all()

    reports = {name: (artifacts / name / "report.md").read_text() for name in history.run_folder}
    second_report, third_report = reports[history.run_folder[1]], reports[history.run_folder[2]]
    assert f"Compared with run {first}" in second_report
    assert "The data is unchanged" in second_report and "Not promoted" in second_report
    assert "beyond its interval, on the same test rows" in second_report
    since = third_report.split("## Since the last run", 1)[1].split("\n## ", 1)[0]
    assert f"Compared with run {second}" in since
    assert "The data changed" in since and "gate_value None → 0.99" in since
    assert "did not pass the quality gate" in since

    def gate_alert():
        return [a for a in receiver.alerts if a["alert"] == "lr-finder.gate.failed"]

    alerts = wait_for(gate_alert, 60, f"the gate alert (got {receiver.alerts})")
    assert alerts[0]["flow_run"] == third and "quality gate" in alerts[0]["message"]
    assert all(a["flow_run"] == third for a in gate_alert())

    _browser_shows_the_history(serve, [first, second, third])


def _browser_shows_the_history(serve: Serve, names: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    found = rest(serve.api, "artifacts/filter", {"artifacts": {"key": {"any_": ["lr-finder-history"]}}, "sort": "CREATED_DESC", "limit": 1})  # fmt: skip
    ui = serve.api.removesuffix("/api")
    with sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1900, "height": 900})
        page.goto(f"{ui}/artifacts/artifact/{found[0]['id']}", wait_until="networkidle")
        for name in names:
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        rows = page.locator("tr").all_inner_texts()
        page.screenshot(path=SCREENSHOTS / "history.png", full_page=True)
        browser.close()
    shown = [row for row in rows if any(name in row for name in names)]
    assert len(shown) == 3, rows


def test_a_run_whose_worker_is_killed_ends_crashed_by_heartbeats_and_resumes_cached(
    serve, receiver, wine_csv
):
    """SIGKILL to the worker and the run's process (a lost machine: nothing reports the end);
    `make serve` starts another worker, the zombie-run automation marks the run Crashed once
    its heartbeats stop, and a retry reuses the stages finished before the kill."""
    # Without a race the train stage trains for itself: the kill lands there.
    long_training = {"confirm": False, "max_epochs": 40, "patience": 40}
    settings = SMALL_SWEEP | {"data": str(wine_csv), "seed": 31, **long_training}
    run_id = serve.trigger(flow_parameters(**settings))
    process = flow_run_process(serve, run_id)
    worker = process.parent()
    assert "worker" in " ".join(worker.cmdline())

    def training() -> bool:
        return latest_task_states(serve.api, run_id, set()).get("train") == "Running"

    wait_for(training, 300, f"training ({serve.log})")
    killed = datetime.now(UTC)
    for doomed in (process, worker):
        doomed.send_signal(signal.SIGKILL)
    psutil.wait_procs([process, worker], timeout=10)
    assert serve.state(run_id) == "Running"

    limit = HEARTBEAT_WINDOW_S + PROACTIVE_EVALUATION_S + 60  # slack for a loaded machine
    wait_for(lambda: serve.state(run_id) == "Crashed", limit, f"Crashed ({serve.log})")
    state = rest(serve.api, f"flow_runs/{run_id}")["state"]
    assert ZOMBIE_MESSAGE in state["message"], state
    crashed_after = datetime.fromisoformat(state["timestamp"]) - killed
    print(f"Crashed {crashed_after.total_seconds():.0f} s after the kill")
    wait_for(
        lambda: any(a["alert"] == "prefect.flow-run.Crashed" for a in receiver.alerts),
        60,
        f"the crash alert (got {receiver.alerts})",
    )
    assert "The worker ended" in serve.log.read_text()

    retried = serve.retry(run_id)
    assert finished(serve, run_id) == "Completed", serve.log.read_text()[-3000:]
    after = latest_task_states(serve.api, run_id, {*EARLIER, "train"}, since=retried)
    assert {name: after[name] for name in EARLIER} == dict.fromkeys(EARLIER, "Cached")
    assert after["train"] == "Completed"
