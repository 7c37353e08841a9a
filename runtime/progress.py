"""Progress of a long task: a line on the terminal's shared bar display, a Prefect progress
artifact and, on long work, a log line with the time left. Replica groups training in threads
share one display (rich allows one at a time)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import TaskRunContext
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from runtime.logs import task_logger

ARTIFACT_STEP = 5.0  # percent
ARTIFACT_EVERY_S = 2.0  # or at least this often while there is news
LOG_EVERY_S = 10.0


class _SharedDisplay:
    """One rich Progress for the process, started by its first user and stopped by its last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps {task.fields[active]}"),
            TimeElapsedColumn(),
        )

    def add(self, label: str) -> int:
        with self.lock:
            if self.users == 0:
                self.progress.start()
            self.users += 1
            return self.progress.add_task(label, total=None, active="")

    def remove(self, bar_id: int) -> None:
        with self.lock:
            self.progress.remove_task(bar_id)
            self.users -= 1
            if self.users == 0:
                self.progress.stop()


DISPLAY = _SharedDisplay()


def progress_line(label: str, done: int, total: int, active: int, seconds: float) -> str:
    """`label: done/total steps, N replicas active, about T s left at this pace`: the planned
    steps still to run at the pace so far (early stopping shortens it; a replica that trains on
    after the others have stopped makes it longer, as its slot's neighbours idle)."""
    left = (total - done) * seconds / done if done else float("nan")
    when = f"about {left:.0f} s left at this pace" if done else "time left not known yet"
    return f"{label}: {done:,}/{total:,} steps, {active} replicas active, {when}"


class StepProgress:
    """`update(done, total, active)` moves both; the artifact exists only inside a task run and
    the bar only with `bar=True` (off on cluster workers, whose terminal nobody watches)."""

    def __init__(self, label: str, key: str, bar: bool = True):
        self.label = label
        self.key = key
        self.bar = bar
        self.bar_id: int | None = None
        self.artifact_id = None
        self.reported = 0.0
        self.started = self.artifact_at = self.logged_at = time.monotonic()

    def __enter__(self) -> StepProgress:
        if self.bar:
            self.bar_id = DISPLAY.add(self.label)
        if TaskRunContext.get() is not None:
            self.artifact_id = create_progress_artifact(0.0, key=self.key, description=self.label)
        return self

    def update(self, done: int, total: int, active: int) -> None:
        if self.bar_id is not None:
            DISPLAY.progress.update(
                self.bar_id, completed=done, total=total, active=f"({active} replicas active)"
            )
        percent = 100.0 * done / total if total else 100.0
        finished = active == 0 or done >= total
        now = time.monotonic()
        news = percent > self.reported and now - self.artifact_at >= ARTIFACT_EVERY_S
        if self.artifact_id and (percent - self.reported >= ARTIFACT_STEP or finished or news):
            update_progress_artifact(self.artifact_id, 100.0 if finished else percent)
            self.reported, self.artifact_at = percent, now
        if not finished and now - self.logged_at >= LOG_EVERY_S:
            task_logger().info(
                "%s", progress_line(self.label, done, total, active, now - self.started)
            )
            self.logged_at = now

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.bar_id is not None:
            DISPLAY.remove(self.bar_id)
