"""The test session's Prefect server: the product's `local_server`, with the UI and services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime.local_server import free_port, local_server

__all__ = ["free_port", "prefect_server"]


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A real `prefect server start` (database and `server.log` in `home`); yields the API URL."""
    with local_server(home, ui=True, services=True) as url:
        yield url
