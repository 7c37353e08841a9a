"""Publish the run: `report.md` in its folder and the Prefect artifacts the UI shows."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from lrfinder.data.splitting import SplitData
from lrfinder.fileio import write_text_atomic
from lrfinder.lr.selection import Selection
from lrfinder.reporting.artifacts import RunResults, run_artifacts
from lrfinder.reporting.history import Recorded
from lrfinder.reporting.outputs import write_figure_atomic
from lrfinder.reporting.plots import history_chart
from lrfinder.training.results import Evaluation
from runtime.logs import task_logger


@task(name="publish-report")
def publish(
    run_dir: Path,
    selection: Selection,
    evaluation: Evaluation,
    split: SplitData,
    recorded: Recorded,
) -> dict[str, str]:
    """Write `report.md` (charts linked by file name, "Since the last run") and create the
    `lr-report` Markdown artifact (charts embedded as data URIs), the table artifacts (their
    descriptions carry the run's warnings), the run history (`lr-finder-history`, last 50 runs,
    and its trend chart) and `run-files` (where the files are and what each is). Returns
    artifact key -> id. The gate's verdict and the warnings are the history record's."""
    write_figure_atomic(run_dir / "history.png", history_chart(recorded.history))
    results = RunResults(run_dir, selection, evaluation, split.report, recorded)
    as_file = results.report({name: name for name in results.charts()})
    report_path = write_text_atomic(run_dir / "report.md", as_file)
    ids = {}
    for artifact in run_artifacts(results):
        if artifact.markdown is not None:
            made = create_markdown_artifact(
                artifact.markdown, key=artifact.key, description=artifact.description
            )
        else:
            made = create_table_artifact(
                artifact.table, key=artifact.key, description=artifact.description
            )
        ids[artifact.key] = str(made)
    task_logger().info("report: %s", report_path)
    return ids
