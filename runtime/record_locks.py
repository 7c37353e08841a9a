"""Prefect's lock manager protocol on OS file locks, so that runs at the same time never compute
or write one cache record twice."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import threading
import time
from pathlib import Path

from prefect.settings import get_current_settings

LOCKS = ".locks"  # in the local result storage
POLL_S = 0.1


class RecordLocks:
    """Prefect's lock manager protocol on OS file locks (flock), one file per cache key in
    `.locks/` of the local result storage: a second run (another process or thread) that needs
    a record being computed waits for it and then reads it, so a record is only ever written by
    one writer and never read while it is written; the kernel releases the lock of a process
    that dies, even by SIGKILL (Prefect's own file locks would stay taken)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[str, tuple[str, int]] = {}  # key -> holder, open file descriptor

    def __deepcopy__(self, memo: dict) -> RecordLocks:
        return self  # one per process: it knows which locks this process holds

    def __reduce__(self) -> tuple:
        return (RecordLocks, ())

    @staticmethod
    def path(key: str) -> Path:
        """The lock file of `key`, in the local result storage as configured now."""
        folder = Path(get_current_settings().results.local_storage_path) / LOCKS
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".lock")

    def _try_acquire(self, key: str, holder: str) -> bool:
        with self._mutex:
            if key in self._held:
                return self._held[key][0] == holder
            fd = os.open(self.path(key), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._held[key] = (holder, fd)
            return True

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take the lock, waiting up to `acquire_timeout` s (None: as long as it takes); held
        until released or until the process ends (`hold_timeout` does not apply)."""
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while not self._try_acquire(key, holder):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while not self._try_acquire(key, holder):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        with self._mutex:
            if self._held.get(key, ("", 0))[0] != holder:
                raise ValueError(f"No lock held by {holder} for transaction with key {key}")
            _, fd = self._held.pop(key)
            os.close(fd)  # closing the descriptor releases the lock

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            if key in self._held:
                return True
        try:
            fd = os.open(self.path(key), os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._mutex:
            return self._held.get(key, ("", 0))[0] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True


RECORD_LOCKS = RecordLocks()
