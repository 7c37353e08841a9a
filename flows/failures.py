"""Failures that a retry cannot fix (bad data, bad settings, a missed quality gate) end the flow
run for good, even where flow-level retries are on: a retry would only come back the same way
after its delay. Crashes and other errors keep their retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from lrfinder.errors import DataError, SettingsError
from lrfinder.training.gate import QualityGateError

FINAL_FAILURES = (DataError, SettingsError, QualityGateError)


def stop_retries() -> None:
    """Set this flow run's retries to 0 on the server, so its failure is not retried."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    policy = context.flow_run.empirical_policy.model_copy(update={"retries": 0})
    with get_client(sync_client=True) as client:
        client.update_flow_run(context.flow_run.id, empirical_policy=policy)


@contextmanager
def final_failures() -> Iterator[None]:
    """Around a flow's body: a failure in FINAL_FAILURES stops this run's retries."""
    try:
        yield
    except FINAL_FAILURES:
        try:
            stop_retries()
        except Exception as error:  # the original failure matters more than this one
            get_run_logger().warning("could not turn this run's retries off: %r", error)
        raise
