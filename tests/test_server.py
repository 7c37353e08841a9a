"""The flow against a real `prefect server start` (see conftest): what the REST API records, a
retry after a crash in final training, and the report as a browser shows it in the Prefect UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import tasks.train
from flows.lr_finder import lr_finder
from tests.helpers import flow_parameters
from tests.prefect_api import FINAL
from tests.test_flow_data import SMALL_SWEEP

ROOT = Path(__file__).resolve().parents[1]
STAGES = {
    "open-run-folder", "locate-data", "load-clean", "split-scale", "write-data-outputs", "sweep",
    "write-sweep-outputs", "select", "write-selection-outputs", "train", "evaluate",
    "write-model-outputs", "publish-report", "finish-run", "quality-gate",
}  # fmt: skip
TABLES = {"range-test-summary", "confirmation-runs", "test-metrics"}
LINKS = {"report-file", "model-file", "metrics-file"}
GROUP_SIZE = 2  # engines of 2 slots: one queue (group) per training stage in this process
PROGRESS = {"sweep-progress-group-1", "confirmation-progress-group-1", "training-progress-group-1"}
CHARTS = 5

pytestmark = pytest.mark.usefixtures("prefect_api")


def rest(api: str, path: str, body: dict | None = None) -> list | dict:
    """One call to the server's REST API: GET without a body, POST (a filter) with one."""
    if body is None:
        response = httpx.get(f"{api}/{path}", timeout=30)
    else:
        response = httpx.post(f"{api}/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def latest_task_states(api: str, flow_run_id: str, names: set[str]) -> dict[str, str]:
    """Stage name -> state of its newest task run in the flow run (a retry adds new ones), once
    the newest run of every stage in `names` has reached a final state (states arrive as events,
    a moment after the run returns)."""
    deadline = time.monotonic() + 60
    while True:
        runs = rest(api, "task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})
        runs.sort(key=lambda run: run["created"])
        states = {run["name"].rsplit("-", 1)[0]: run["state"]["name"] for run in runs}
        if all(states.get(name) in FINAL for name in names):
            return states
        if time.monotonic() > deadline:
            pending = {name: states.get(name) for name in names if states.get(name) not in FINAL}
            raise TimeoutError(f"task runs not final after 60 s: {pending}")
        time.sleep(0.2)


def artifacts_of(api: str, flow_run_id: str) -> dict[str, dict]:
    found = rest(api, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
    return {artifact["key"]: artifact for artifact in found if artifact["key"]}


@pytest.fixture(scope="module")
def finished_run(prefect_api, wine_csv, tmp_path_factory) -> dict:
    """One small flow run against the server, shared by the assertions below."""
    artifacts_dir = tmp_path_factory.mktemp("artifacts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LRFINDER_ARTIFACTS_DIR", str(artifacts_dir))
        patch.setenv("LRFINDER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        flat = SMALL_SWEEP | {"data": str(wine_csv), "seed": 11, "replicas_per_group": GROUP_SIZE}
        state = lr_finder(return_state=True, **flow_parameters(**flat))
    return {"id": str(state.state_details.flow_run_id), "run_dir": Path(state.result())}


def test_rest_api_records_the_run_every_stage_and_the_artifacts(prefect_api, finished_run):
    flow_run = rest(prefect_api, f"flow_runs/{finished_run['id']}")
    assert flow_run["state"]["name"] == "Completed"
    states = latest_task_states(prefect_api, finished_run["id"], STAGES)
    assert set(states) >= STAGES, STAGES - set(states)
    assert all(states[name] in ("Completed", "Cached") for name in STAGES), states
    runs = rest(
        prefect_api, "task_runs/filter", {"flow_runs": {"id": {"any_": [finished_run["id"]]}}}
    )
    groups = sorted(run["name"] for run in runs if "-group-" in run["name"])
    # one engine queue per stage in this process: confirmation and final fit, refit, range test
    assert groups == ["fit-group-1-of-1"] * 2 + ["range_test-group-1-of-1", "refit-group-1-of-1"]

    artifacts = artifacts_of(prefect_api, finished_run["id"])
    assert {"lr-report"} | TABLES | LINKS | PROGRESS <= set(artifacts), sorted(artifacts)
    report = artifacts["lr-report"]
    assert report["type"] == "markdown"
    assert report["data"].count("](data:image/png;base64,") == CHARTS
    on_disk = (finished_run["run_dir"] / "report.md").read_text()
    assert on_disk.count("](") == CHARTS and "(roc.png)" in on_disk
    assert on_disk.split("## Charts")[0] == report["data"].split("## Charts")[0]
    metrics = json.loads((finished_run["run_dir"] / "metrics.json").read_text())
    table = json.loads(artifacts["test-metrics"]["data"])
    assert table[0]["metric"] == "accuracy"
    assert table[0]["chosen_final"] == pytest.approx(metrics["test"]["chosen"]["final"]["accuracy"])
    for key, name in zip(sorted(LINKS), ["metrics.json", "model.keras", "report.md"], strict=True):
        target = (finished_run["run_dir"] / name).resolve()
        assert artifacts[key]["data"] == f"[{name}]({target.as_uri()})", artifacts[key]
        assert target.is_file()
    assert all(float(artifacts[key]["data"]) == 100.0 for key in PROGRESS)


def test_retry_after_a_crash_in_final_training_reuses_earlier_tasks(
    prefect_api, workspace, wine_csv, monkeypatch
):
    def crash(*args, **kwargs):
        raise RuntimeError("injected crash in final training")

    with monkeypatch.context() as patch:
        patch.setattr(tasks.train, "train_final", crash)
        flat = SMALL_SWEEP | {"data": str(wine_csv), "seed": 7}
        state = lr_finder(return_state=True, **flow_parameters(**flat))
    assert state.is_failed()
    flow_run_id = str(state.state_details.flow_run_id)
    assert latest_task_states(prefect_api, flow_run_id, {"train"})["train"] == "Failed"

    retry = subprocess.run(
        [str(Path(sys.executable).with_name("prefect")), "flow-run", "retry", flow_run_id,
         "--entrypoint", "flows/lr_finder.py:lr_finder"],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert retry.returncode == 0, retry.stdout[-3000:] + retry.stderr[-3000:]

    assert rest(prefect_api, f"flow_runs/{flow_run_id}")["state"]["name"] == "Completed"
    states = latest_task_states(prefect_api, flow_run_id, STAGES)
    for name in ("load-clean", "split-scale", "sweep", "select"):
        assert states[name] == "Cached", (name, states)
    assert states["train"] == "Completed" and states["publish-report"] == "Completed"
    assert (workspace["artifacts"] / "latest" / "model.keras").is_file()


def test_browser_shows_the_report_charts_in_the_prefect_ui(prefect_api, finished_run):
    from playwright.sync_api import sync_playwright

    ui = prefect_api.removesuffix("/api")
    report_id = artifacts_of(prefect_api, finished_run["id"])["lr-report"]["id"]
    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{ui}/runs/flow-run/{finished_run['id']}", wait_until="networkidle")
        page.get_by_text("lr-finder").first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "flow_run.png")
        page.goto(f"{ui}/artifacts/artifact/{report_id}", wait_until="networkidle")
        page.get_by_text("Chosen rate").first.wait_for(timeout=60_000)
        page.wait_for_function(
            f"Array.from(document.images).filter(i => i.src.startsWith('data:image/png')"
            f" && i.complete && i.naturalWidth > 0).length >= {CHARTS}",
            timeout=60_000,
        )
        widths = page.evaluate(
            "Array.from(document.images).filter(i => i.src.startsWith('data:image/png'))"
            ".map(i => i.naturalWidth)"
        )
        page.screenshot(path=shots / "lr_report.png", full_page=True)
        browser.close()
    assert len(widths) == CHARTS and all(width > 0 for width in widths), widths
