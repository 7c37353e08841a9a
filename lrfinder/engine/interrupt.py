"""Stopping training that runs outside the main thread: a signal reaches the main thread only,
so the task layer raises a process-wide flag that every engine reads between compiled chunks."""

from __future__ import annotations

import threading

_STOP = threading.Event()


class Interrupted(RuntimeError):
    """Training stopped because the run is being cancelled or interrupted."""


def request_stop() -> None:
    """Ask every engine in this process to stop at its next chunk boundary."""
    _STOP.set()


def clear_stop() -> None:
    """Let engines train again (after the stopped ones have ended)."""
    _STOP.clear()


def check() -> None:
    """Raise Interrupted when a stop has been requested."""
    if _STOP.is_set():
        raise Interrupted("training stopped: the run is being cancelled or interrupted")
