"""Publish the run: `report.md` in its folder and the Prefect artifacts the UI shows."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from lrfinder.data.splitting import SplitData
from lrfinder.fileio import write_text_atomic
from lrfinder.reporting.comparison import SHOWN_RUNS, history_rows, since_last_run
from lrfinder.reporting.history import Recorded
from lrfinder.reporting.model_card import metric_rows
from lrfinder.reporting.outputs import write_figure_atomic
from lrfinder.reporting.plots import history_chart
from lrfinder.reporting.report import (
    CHART_TITLES,
    confirmation_rows,
    png_data_uri,
    report_markdown,
    run_files_markdown,
    suggestion_rows,
)
from lrfinder.training.gate import trivial_name
from runtime.logs import task_logger


@task(name="publish-report")
def publish(
    run_dir: Path,
    selection,
    evaluation,
    split: SplitData,
    recorded: Recorded,
) -> dict[str, str]:
    """Write `report.md` (charts linked by file name, "Since the last run") and create the
    `lr-report` Markdown artifact (charts embedded as data URIs), the table artifacts (their
    descriptions carry the run's warnings), the run history (`lr-finder-history`, last 50 runs,
    and its trend chart) and `run-files` (where the files are and what each is). Returns
    artifact key -> id. The gate's verdict and the warnings are the history record's."""
    metrics, _ = evaluation
    summary = selection.summary
    record = recorded.record
    write_figure_atomic(run_dir / "history.png", history_chart(recorded.history))
    charts = [name for name in CHART_TITLES if (run_dir / name).is_file()]
    title = run_dir.name
    judged = {
        "gate_metric": record.gate_metric,
        "gate_message": record.gate_message,
        "since": since_last_run(recorded),
    }
    as_file = report_markdown(
        title, summary, metrics, split.report, {n: n for n in charts}, **judged
    )
    report_path = write_text_atomic(run_dir / "report.md", as_file)
    embedded = {name: png_data_uri((run_dir / name).read_bytes()) for name in charts}
    note = "".join(f"\n\n**Warning:** {w}" for w in record.warnings)
    ids = {
        "lr-report": create_markdown_artifact(
            report_markdown(title, summary, metrics, split.report, embedded, **judged),
            key="lr-report",
            description=f"Learning-rate report of {title}",
        ),
        "range-test-summary": create_table_artifact(
            suggestion_rows(summary),
            key="range-test-summary",
            description="Curve readings of the range test" + note,
        ),
        "test-metrics": create_table_artifact(
            metric_rows(metrics["test"], metrics.get("reference", {}).get("test")),
            key="test-metrics",
            description=f"{metrics['task']} task: chosen rate against the baseline, "
            f"{trivial_name(metrics['task'])} and a gradient-boosted tree reference "
            "(`reference`, default settings) on the test set" + note,
        ),
    }
    ids["lr-finder-history"] = create_table_artifact(
        history_rows(recorded.history),
        key="lr-finder-history",
        description=f"Run history: the last {SHOWN_RUNS} recorded runs, newest first "
        f"({len(recorded.history)} in artifacts/history.parquet)",
    )
    ids["lr-finder-trend"] = create_markdown_artifact(
        f"![run history]({embedded['history.png']})",
        key="lr-finder-trend",
        description="Chosen rate and test metric per run",
    )
    if rows := confirmation_rows(summary):
        ids["confirmation-runs"] = create_table_artifact(
            rows,
            key="confirmation-runs",
            description="Validation metric per candidate rate" + note,
        )
    files = {path.name: path.stat().st_size for path in run_dir.iterdir() if path.is_file()}
    ids["run-files"] = create_markdown_artifact(
        run_files_markdown(str(run_dir.resolve()), files),
        key="run-files",
        description=f"Files of {title}",
    )
    task_logger().info("report: %s", report_path)
    return {key: str(value) for key, value in ids.items()}
