"""The automations `make serve` creates on the Prefect server (run after `prefect deploy`):

- `lr-finder-alerts`: on a flow run that ends Failed or Crashed, and on the events the flow
  emits when its quality gate fails or its test metric drops beyond the previous run's interval
  (`tasks/history.py`), call the webhook block `lr-finder-alerts`, whose URL is the setting
  LRFINDER_ALERT_WEBHOOK_URL. Without that setting there is no alert automation.
- `lr-finder-zombie-runs`: Prefect's documented automation for runs whose process died without
  reporting (docs.prefect.io, "detect zombie flows"): a deployment run that sent a heartbeat and
  then nothing for the heartbeat window (no heartbeat, no final state, no retry wait, pause or
  cancel) is marked Crashed. The window is three heartbeats of the
  deployments' PREFECT_FLOWS_HEARTBEAT_FREQUENCY in prefect.yaml.

Both are replaced on every call, so a second `make serve` leaves one of each.

Usage: python ops/automations.py  (PREFECT_API_URL names the server)"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import yaml
from prefect.automations import Automation
from prefect.blocks.webhook import Webhook
from prefect.client.schemas.objects import StateType
from prefect.events.actions import CallWebhook, ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lrfinder.paths import Paths  # noqa: E402
from tasks.history import GATE_FAILED, METRIC_DROPPED  # noqa: E402

ALERTS = "lr-finder-alerts"
ZOMBIES = "lr-finder-zombie-runs"
MISSED_HEARTBEATS = 3
FLOW_RUNS = ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]})
ALERT_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", GATE_FAILED, METRIC_DROPPED}
PAYLOAD = """{
  "alert": {{ event.event | tojson }},
  "flow_run": {{ event.resource.name | tojson }},
  "flow_run_id": {{ event.resource.id | replace("prefect.flow-run.", "") | tojson }},
  "occurred": {{ event.occurred | string | tojson }},
  "message": {{ (event.payload.get("message") or event.payload.get("validated_state", {}).get("message") or "") | tojson }}
}"""
# A run's heartbeats pause in these states (a retry's wait, a pause, a cancel under way) without
# the run being lost: each closes the window like a heartbeat.
QUIET_STATES = ("AwaitingRetry", "Paused", "Cancelling")
FINAL_STATES = ("Completed", "Failed", "Cancelled", "Crashed")


def heartbeat_seconds(prefect_yaml: Path) -> int:
    """The longest PREFECT_FLOWS_HEARTBEAT_FREQUENCY among the deployments of `prefect_yaml`,
    at least Prefect's minimum (a lower setting beats at the minimum)."""
    config = yaml.safe_load(prefect_yaml.read_text())
    found = [
        int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
        for deployment in config["deployments"]
        if (env := deployment.get("work_pool", {}).get("job_variables", {}).get("env", {}))
        and "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in env
    ]
    if not found:
        raise SystemExit(
            f"{prefect_yaml}: no deployment sets PREFECT_FLOWS_HEARTBEAT_FREQUENCY in its work "
            "pool's job_variables.env; set it (at least 30) so that runs send heartbeats."
        )
    return max(*found, MINIMUM_HEARTBEAT_INTERVAL)


def _delete(name: str) -> None:
    """Delete every automation called `name`."""
    while True:
        try:
            Automation.read(name=name).delete()
        except ValueError:
            return


def _replace(automation: Automation) -> Automation:
    """Create `automation`, deleting any of the same name first."""
    _delete(automation.name)
    return automation.create()


def zombie_automation(window: timedelta) -> Automation:
    """Mark Crashed a flow run that sent a heartbeat, then neither a heartbeat nor a final state
    for `window`."""
    return Automation(
        name=ZOMBIES,
        description="Deployment runs whose heartbeats stopped (process or machine lost) end "
        "Crashed, so that they can be retried.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                *(f"prefect.flow-run.{state}" for state in FINAL_STATES + QUIET_STATES),
            },
            match=FLOW_RUNS,
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=window,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {window.total_seconds():.0f} s: its process or "
                "machine was lost; a retry resumes it from the finished stages",
            )
        ],
    )


def alert_automation(webhook_id: UUID) -> Automation:
    """Call the webhook block `webhook_id` on each alert event."""
    return Automation(
        name=ALERTS,
        description="A failed or crashed run, a failed quality gate, or a test metric that "
        "dropped beyond the previous run's interval: the webhook is called.",
        trigger=EventTrigger(
            expect=ALERT_EVENTS,
            match=FLOW_RUNS,
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[CallWebhook(block_document_id=webhook_id, payload=PAYLOAD)],
    )


def main() -> None:
    window = timedelta(seconds=MISSED_HEARTBEATS * heartbeat_seconds(ROOT / "prefect.yaml"))
    _replace(zombie_automation(window))
    print(f"Automation {ZOMBIES}: runs without a heartbeat for {window.seconds} s end Crashed")
    url = Paths.from_env().alert_webhook_url
    if not url:
        _delete(ALERTS)
        print(f"Automation {ALERTS}: none (set LRFINDER_ALERT_WEBHOOK_URL to get alerts)")
        return
    webhook = Webhook(method="POST", url=url, headers={"Content-Type": "application/json"})
    webhook_id = webhook.save(ALERTS, overwrite=True)
    _replace(alert_automation(webhook_id))
    print(f"Automation {ALERTS}: failed or crashed runs, gate failures and metric drops → {url}")


if __name__ == "__main__":
    main()
