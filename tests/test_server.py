"""The flow against a real `prefect server start` (see conftest): what the REST API records, where
a retry can help, and the report as a browser shows it in the Prefect UI. (A retry of a crash in
final training is tested on PostgreSQL, `test_postgres.py`, and of a killed run on this server,
`test_concurrency.py`.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import tasks.train
from flows.lr_finder import lr_finder
from tests.helpers import SCREENSHOTS, SMALL_SWEEP, STAGES, chromium, flow_parameters
from tests.prefect_api import latest_task_states, rest

TABLES = {"range-test-summary", "confirmation-runs", "test-metrics"}
GROUP_SIZE = 2  # engines of 2 slots: one queue (group) per training stage in this process
# The race trains the final models: the train stage trains nothing, and reports no progress.
PROGRESS = {"sweep-progress-group-1", "confirmation-progress-group-1"}
CHARTS = 6

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]


def artifacts_of(api: str, flow_run_id: str) -> dict[str, dict]:
    found = rest(api, "artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
    return {artifact["key"]: artifact for artifact in found if artifact["key"]}


@pytest.fixture(scope="module")
def finished_run(prefect_api, wine_sample, tmp_path_factory) -> dict:
    """One small flow run against the server, shared by the assertions below."""
    artifacts_dir = tmp_path_factory.mktemp("artifacts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LRFINDER_ARTIFACTS_DIR", str(artifacts_dir))
        patch.setenv("LRFINDER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        flat = SMALL_SWEEP | {
            "data": str(wine_sample),
            "seed": 11,
            "replicas_per_group": GROUP_SIZE,
        }
        state = lr_finder(return_state=True, **flow_parameters(**flat))
    return {"id": str(state.state_details.flow_run_id), "run_dir": Path(state.result())}


def test_rest_api_records_the_run_every_stage_and_the_artifacts(prefect_api, finished_run):
    flow_run = rest(prefect_api, f"flow_runs/{finished_run['id']}")
    assert flow_run["state"]["name"] == "Completed"
    states = latest_task_states(prefect_api, finished_run["id"], STAGES)
    assert set(states) >= set(STAGES), set(STAGES) - set(states)
    assert all(states[name] in ("Completed", "Cached") for name in STAGES), states
    runs = rest(
        prefect_api, "task_runs/filter", {"flow_runs": {"id": {"any_": [finished_run["id"]]}}}
    )
    groups = sorted(run["name"] for run in runs if "-group-" in run["name"])
    # one engine queue per training call in this process: the range test and the race's two
    # rungs (1 and 2 epochs), whose replicas are the final models (no final fit, no refit)
    assert groups == ["fit-group-1-of-1"] * 2 + ["range_test-group-1-of-1"]

    artifacts = artifacts_of(prefect_api, finished_run["id"])
    assert {"lr-report", "run-files"} | TABLES | PROGRESS <= set(artifacts), sorted(artifacts)
    assert "training-progress-group-1" not in artifacts
    report = artifacts["lr-report"]
    assert report["type"] == "markdown"
    assert report["data"].count("](data:image/png;base64,") == CHARTS
    on_disk = (finished_run["run_dir"] / "report.md").read_text()
    assert on_disk.count("![") == CHARTS and "(roc.png)" in on_disk
    assert on_disk.split("## Charts")[0] == report["data"].split("## Charts")[0]
    metrics = json.loads((finished_run["run_dir"] / "metrics.json").read_text())
    table = json.loads(artifacts["test-metrics"]["data"])
    assert table[0]["metric"] == "accuracy"
    assert table[0]["chosen_final"] == pytest.approx(metrics["test"]["chosen"]["final"]["accuracy"])
    files = artifacts["run-files"]
    assert files["type"] == "markdown" and "file://" not in files["data"]
    assert f"`{finished_run['run_dir'].resolve()}`" in files["data"]
    listed = set(re.findall(r"^\| `([^`]+)` \|", files["data"], flags=re.MULTILINE))
    assert listed >= {"model.keras", "metrics.json", "report.md"}
    assert all((finished_run["run_dir"] / name).is_file() for name in listed)
    assert all(float(artifacts[key]["data"]) == 100.0 for key in PROGRESS)


def test_browser_shows_the_report_charts_in_the_prefect_ui(prefect_api, finished_run):
    from playwright.sync_api import sync_playwright

    ui = prefect_api.removesuffix("/api")
    artifacts = artifacts_of(prefect_api, finished_run["id"])
    report_id, files_id = artifacts["lr-report"]["id"], artifacts["run-files"]["id"]
    run_dir = str(finished_run["run_dir"].resolve())
    with sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{ui}/runs/flow-run/{finished_run['id']}", wait_until="networkidle")
        page.get_by_text("lr-finder").first.wait_for(timeout=60_000)
        page.screenshot(path=SCREENSHOTS / "flow_run.png")
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
        page.screenshot(path=SCREENSHOTS / "lr_report.png", full_page=True)
        page.goto(f"{ui}/artifacts/artifact/{files_id}", wait_until="networkidle")
        page.get_by_text(run_dir).first.wait_for(timeout=60_000)
        shown = page.locator("td code").all_inner_texts()
        page.screenshot(path=SCREENSHOTS / "run_files.png", full_page=True)
        browser.close()
    assert {"model.keras", "metrics.json", "report.md"} <= set(shown), shown
    assert all((finished_run["run_dir"] / name).is_file() for name in shown)
    assert len(widths) == CHARTS and all(width > 0 for width in widths), widths


def test_a_retry_happens_only_where_it_can_help(prefect_api, workspace, wine_sample, monkeypatch):
    retrying = lr_finder.with_options(retries=1, retry_delay_seconds=0)
    small = SMALL_SWEEP | {"data": str(wine_sample), "seed": 7}

    def runs_of(state) -> tuple[str, int]:
        flow_run = rest(prefect_api, f"flow_runs/{state.state_details.flow_run_id}")
        return flow_run["state"]["name"], flow_run["run_count"]

    gate = {"gate_value": 0.99, "quality_gate_mode": "fail"}
    missed_gate = retrying(return_state=True, **flow_parameters(**small, **gate))
    assert runs_of(missed_gate) == ("Failed", 1), "the same verdict would come back"

    # Settings as a deployment sends them (plain JSON): refused with the fix, never retried.
    bad_settings = retrying(
        return_state=True, data={"source": str(wine_sample)}, split={"val_size": 0.0}
    )
    assert runs_of(bad_settings) == ("Failed", 1)
    with pytest.raises(ValueError, match=r"--confirm true needs a validation split"):
        bad_settings.result()

    bad_csv = workspace["data"] / "bad.csv"
    bad_csv.write_text("a;b\n1;2\n")
    bad_data = retrying(return_state=True, **flow_parameters(data=str(bad_csv)))
    assert runs_of(bad_data) == ("Failed", 1)
    # The UI shows the error's own message, which names the file and the fix.
    recorded = rest(prefect_api, f"flow_runs/{bad_data.state_details.flow_run_id}")["state"]
    with pytest.raises(ValueError) as raised:
        bad_data.result()
    assert recorded["message"] == str(raised.value) and "bad.csv: missing column" in str(
        raised.value
    )

    calls = []
    real = tasks.train.train_final

    def crash_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected crash in final training")
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks.train, "train_final", crash_once)
    crashed_once = retrying(return_state=True, **flow_parameters(**small | {"seed": 13}))
    assert runs_of(crashed_once) == ("Completed", 2) and len(calls) == 2
