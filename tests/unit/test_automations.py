"""The automations `make serve` creates (ops/automations.py), built without a server: what the
zombie-run trigger waits for, the heartbeat window, and the alert's events and payload."""

from __future__ import annotations

import importlib.util
import json
from datetime import timedelta
from uuid import uuid4

import jinja2
import pytest

from tests.helpers import ROOT


@pytest.fixture(scope="module")
def automations():
    spec = importlib.util.spec_from_file_location("automations", ROOT / "ops" / "automations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_heartbeat_window_is_three_heartbeats_of_prefect_yaml(automations, tmp_path):
    assert automations.heartbeat_seconds(ROOT / "prefect.yaml") == 30
    fast = tmp_path / "prefect.yaml"
    env = {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "10"}}
    fast.write_text(json.dumps({"deployments": [{"work_pool": {"job_variables": env}}]}))
    assert automations.heartbeat_seconds(fast) == 30, "Prefect beats at 30 s at the least"
    fast.write_text(json.dumps({"deployments": [{"work_pool": {}}]}))
    with pytest.raises(SystemExit, match="PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        automations.heartbeat_seconds(fast)


def test_a_run_waiting_to_retry_is_no_zombie(automations):
    trigger = automations.zombie_automation(timedelta(seconds=90)).trigger
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    for state in ("heartbeat", "Completed", "Failed", "Crashed", "AwaitingRetry", "Cancelling"):
        assert f"prefect.flow-run.{state}" in trigger.expect
    assert trigger.posture == "Proactive" and trigger.within == timedelta(seconds=90)


def test_the_alert_fires_on_failures_and_the_flows_events_with_a_json_body(automations):
    automation = automations.alert_automation(uuid4())
    assert automation.trigger.expect == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
        "lr-finder.gate.failed",
        "lr-finder.metric.dropped",
    }
    event = {
        "event": "lr-finder.gate.failed",
        "resource": {"name": 'a "quoted" run', "id": "prefect.flow-run.123"},
        "occurred": "2026-12-05 02:00:00+00:00",
        "payload": {"message": "quality gate: test accuracy 0.70 is below 0.99"},
    }
    body = jinja2.Environment().from_string(automation.actions[0].payload).render(event=event)
    assert json.loads(body) == {
        "alert": "lr-finder.gate.failed",
        "flow_run": 'a "quoted" run',
        "flow_run_id": "123",
        "occurred": "2026-12-05 02:00:00+00:00",
        "message": "quality gate: test accuracy 0.70 is below 0.99",
    }
