"""What the Prefect UI shows of a run, as plain data: each artifact's key, description and
Markdown or table rows (the publish task creates them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lrfinder.reporting.comparison import SHOWN_RUNS, history_rows, since_last_run
from lrfinder.reporting.history import Recorded
from lrfinder.reporting.model_card import metric_rows
from lrfinder.reporting.report import (
    CHART_TITLES,
    confirmation_rows,
    png_data_uri,
    report_markdown,
    run_files_markdown,
    suggestion_rows,
)
from lrfinder.training.gate import trivial_name
from lrfinder.training.results import Evaluation

if TYPE_CHECKING:
    from lrfinder.lr.selection import Selection  # its module imports the engine


@dataclass(frozen=True)
class Artifact:
    """One Prefect artifact: Markdown, or a table's rows."""

    key: str
    description: str
    markdown: str | None = None
    table: list[dict] | None = None


@dataclass(frozen=True)
class RunResults:
    """What a finished run publishes: its folder's charts, its results and its history."""

    run_dir: Path
    selection: Selection
    evaluation: Evaluation
    data_report: dict
    recorded: Recorded

    def report(self, images: dict[str, str]) -> str:
        """The run report, with `images` (chart file name -> what an <img> loads)."""
        record = self.recorded.record
        return report_markdown(
            self.run_dir.name,
            self.selection,
            self.evaluation,
            self.data_report,
            images,
            gate_metric=record.gate_metric,
            gate_message=record.gate_message,
            since=since_last_run(self.recorded),
        )

    def charts(self) -> list[str]:
        """The run folder's charts, in the report's order."""
        return [name for name in CHART_TITLES if (self.run_dir / name).is_file()]


def run_artifacts(results: RunResults) -> list[Artifact]:
    """The run's artifacts: the report (charts embedded as data URIs), the table artifacts
    (their descriptions carry the run's warnings), the run history and its trend chart, and
    the run's files (where they are and what each is)."""
    run_dir, selection, evaluation = results.run_dir, results.selection, results.evaluation
    history = results.recorded.history
    embedded = {n: png_data_uri((run_dir / n).read_bytes()) for n in results.charts()}
    note = "".join(f"\n\n**Warning:** {w}" for w in results.recorded.record.warnings)
    reference = evaluation.reference.test
    task = evaluation.task
    found = [
        Artifact(
            "lr-report",
            f"Learning-rate report of {run_dir.name}",
            markdown=results.report(embedded),
        ),
        Artifact(
            "range-test-summary",
            "Curve readings of the range test" + note,
            table=suggestion_rows(selection),
        ),
        Artifact(
            "test-metrics",
            f"{task} task: chosen rate against the baseline, {trivial_name(task)} and a "
            "gradient-boosted tree reference (`reference`, default settings) on the test set"
            + note,
            table=metric_rows(evaluation.test, reference),
        ),
        Artifact(
            "lr-finder-history",
            f"Run history: the last {SHOWN_RUNS} recorded runs, newest first "
            f"({len(history)} in artifacts/history.parquet)",
            table=history_rows(history),
        ),
        Artifact(
            "lr-finder-trend",
            "Chosen rate and test metric per run",
            markdown=f"![run history]({embedded['history.png']})",
        ),
    ]
    if rows := confirmation_rows(selection):
        found.append(
            Artifact("confirmation-runs", "The race: validation metric per rate" + note, table=rows)
        )
    files = {path.name: path.stat().st_size for path in run_dir.iterdir() if path.is_file()}
    found.append(
        Artifact(
            "run-files",
            f"Files of {run_dir.name}",
            markdown=run_files_markdown(str(run_dir.resolve()), files),
        )
    )
    return found
