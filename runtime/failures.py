"""Failures that a retry cannot fix (bad data, bad settings, a missed quality gate) end the flow
run for good, even where flow-level retries are on: a retry would only come back the same way
after its delay. Their message is the flow run's state message, as the user wrote nothing wrong
in Python: the console shows it without a traceback (the Prefect logs keep the traceback).
Crashes and other errors keep their retries and tracebacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger
from prefect.logging.handlers import PrefectConsoleHandler
from prefect.states import Failed, State

from lrfinder.errors import DataError, SettingsError
from lrfinder.training.gate import QualityGateError

FINAL_FAILURES = (DataError, SettingsError, QualityGateError)
T = TypeVar("T")


def stop_retries() -> None:
    """Set this flow run's retries to 0 on the server, so its failure is not retried."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    policy = context.flow_run.empirical_policy.model_copy(update={"retries": 0})
    with get_client(sync_client=True) as client:
        client.update_flow_run(context.flow_run.id, empirical_policy=policy)


def failing_for_good(body: Callable[[], T]) -> T | State:
    """A flow's body, run: a failure in FINAL_FAILURES stops this run's retries and ends it
    Failed with the error's own message as the state message (a caller of the flow gets the
    error raised again)."""
    try:
        return body()
    except FINAL_FAILURES as error:
        logger = get_run_logger()
        try:
            stop_retries()
        except Exception as problem:  # the original failure matters more than this one
            logger.warning("could not turn this run's retries off: %r", problem)
        logger.error("%s", error, exc_info=error)
        return Failed(message=str(error), data=error)


class WithoutFinalTracebacks(logging.Formatter):
    """A console formatter that prints a final failure's log record without its traceback."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and isinstance(record.exc_info[1], FINAL_FAILURES):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return self.inner.format(record)


def console_without_final_tracebacks() -> None:
    """Wrap the formatter of every Prefect console handler in WithoutFinalTracebacks."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            formatter = handler.formatter
            wrapped = isinstance(formatter, WithoutFinalTracebacks)
            if isinstance(handler, PrefectConsoleHandler) and formatter and not wrapped:
                handler.setFormatter(WithoutFinalTracebacks(formatter))
