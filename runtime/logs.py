"""A logger that works inside a Prefect run and in plain calls of a task's `.fn`."""

import logging

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger


def task_logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("lrfinder")
