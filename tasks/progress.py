"""Progress of a long task: a bar on the terminal and a Prefect progress artifact."""

from __future__ import annotations

from types import TracebackType

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import TaskRunContext
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

ARTIFACT_STEP = 5.0


class StepProgress:
    """`update(done, total, active)` moves both; the artifact exists only inside a task run."""

    def __init__(self, label: str, key: str):
        self.label = label
        self.key = key
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps {task.fields[active]}"),
            TimeElapsedColumn(),
        )
        self.bar_task = self.bar.add_task(label, total=None, active="")
        self.artifact_id = None
        self.reported = 0.0

    def __enter__(self) -> StepProgress:
        self.bar.start()
        if TaskRunContext.get() is not None:
            self.artifact_id = create_progress_artifact(0.0, key=self.key, description=self.label)
        return self

    def update(self, done: int, total: int, active: int) -> None:
        self.bar.update(
            self.bar_task, completed=done, total=total, active=f"({active} replicas active)"
        )
        percent = 100.0 * done / total if total else 100.0
        finished = active == 0 or done >= total
        if self.artifact_id and (percent - self.reported >= ARTIFACT_STEP or finished):
            update_progress_artifact(self.artifact_id, 100.0 if finished else percent)
            self.reported = percent

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.bar.stop()
