"""The run report (Markdown) and the rows of its tables: plain data in, text and records out."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lrfinder.metric_names import HEADLINE, is_better
from lrfinder.reporting.model_card import metrics_table, twin_free_section
from lrfinder.reporting.tables import interval_note, reference_note, threshold_section
from lrfinder.training.gate import trivial_name
from lrfinder.training.results import Comparison, Evaluation, trained_on_words

if TYPE_CHECKING:
    from lrfinder.lr.selection import Selection  # its module imports the engine

LABELS = {"rmse": "RMSE", "accuracy": "accuracy"}  # the headline metrics, as a sentence names them
CHART_TITLES = {
    "lr_finder.png": "Range test: loss against learning rate",
    "confirmation.png": "The race: validation metric per rate, by the epochs it reached",
    "training_curves.png": "Final training: loss (and accuracy) per epoch",
    "confusion_matrix.png": "Confusion matrices on the test set",
    "roc.png": "ROC curves on the test set",
    "class_recall.png": "Recall per class on the test set",
    "predicted_vs_true.png": "Predicted against true on the test set",
    "residuals.png": "Residuals against predictions on the test set",
    "history.png": "Run history: chosen rate and test metric per run",
}


RUN_FILES = {
    "report.md": "the run report (charts linked by file name)",
    "model.keras": "the final model; keras.saving.load_model(path, safe_mode=True)",
    "metrics.json": "test metrics of the chosen and baseline models",
    "predictions.parquet": "per test row: the truth and both final models' predictions "
    "(probabilities for classes, class names for multiclass, target units for regression)",
    "model_card.md": "data hash, settings, chosen rate and why, metric tables, versions",
    "selection.json": "the chosen rate, every suggestion and the confirmation runs",
    "range_test.parquet": "the range test, one row per replica and step",
    "range_test.json": "the range test's summary: steps, divergence, device, timing",
    "data_report.json": "source files and hashes, cleaning, splits, leakage",
    "scaler.json": "the scaler fit on the train split",
    "train.parquet": "standardised train split",
    "val.parquet": "standardised validation split",
    "test.parquet": "standardised test split",
    **{name: f"chart: {title}" for name, title in CHART_TITLES.items()},
}


def run_files_markdown(run_dir: str, files: Mapping[str, int]) -> str:
    """Where a run's files are and what each is, as text a browser shows as it is: the Prefect
    UI cannot open `file://` links, so the path is given for a shell on that machine."""
    lines = [
        f"Run folder on the machine that ran the flow:\n\n`{run_dir}`\n",
        "| file | what it is | size |",
        "| --- | --- | --- |",
    ]
    for name, size in sorted(files.items()):
        lines.append(f"| `{name}` | {RUN_FILES.get(name, '')} | {size / 1024:,.1f} KiB |")
    return "\n".join(lines) + "\n"


def png_data_uri(png: bytes) -> str:
    """An image a browser shows without fetching anything (the Prefect UI cannot read files)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def suggestion_rows(selection: Selection) -> list[dict]:
    """One record per curve reading: its rate, the replicas' spread and whether it centred the
    confirmation."""
    return [
        {
            "method": name,
            "lr": agg.suggested,
            "spread": agg.spread if agg.read else None,
            "replicas_disagree": agg.disagree,
            "used": name == selection.method,
        }
        for name, agg in selection.aggregates.items()
    ]


def confirmation_rows(selection: Selection) -> list[dict]:
    if selection.confirmation is None:
        return []
    return [
        {**row, "chosen": row["lr"] == selection.chosen_lr}
        for row in selection.confirmation.by_rate.to_dict("records")
    ]


def verdict(
    comparison: Comparison, n_seeds: int, task: str = "binary", gate_metric: str = ""
) -> str:
    """What the task's headline test metric shows, however small the gap, what the trivial
    predictor scores, and a flag when the chosen model does not beat it on the gate's metric."""
    name = HEADLINE[task]
    d = comparison.difference[name]
    chosen = comparison.chosen.final[name]
    baseline = comparison.baseline.final[name]
    trivial = None if comparison.trivial is None else comparison.trivial[name]
    against = "" if trivial is None else f" ({trivial_name(task)}: {trivial:.4f})"
    label = f"Test {LABELS[name]}"
    if n_seeds < 2:
        sentence = (
            f"{label} {chosen:.4f} at the chosen rate against {baseline:.4f} at the "
            f"baseline rate{against}, from one seed each: no spread to judge the gap by."
        )
    else:
        judged = "larger" if d["larger_than_spread"] else "not larger"
        sentence = (
            f"{label} {chosen:.4f} at the chosen rate against {baseline:.4f} at the baseline "
            f"rate{against}; paired across {n_seeds} seeds the difference is {d['mean']:+.4f} ± "
            f"{d['std']:.4f}, {judged} than its spread."
        )
    gate = gate_metric or name
    if comparison.trivial is not None:
        value, reference = comparison.chosen.final[gate], comparison.trivial[gate]
        if not is_better(gate, value, reference):
            sentence += (
                f" **The chosen model does not beat {trivial_name(task)} on {gate} "
                f"({value:.4f} against {reference:.4f}): it has learned nothing the gate can "
                "see.**"
            )
    return sentence


def run_warnings(selection: Selection, gate_message: str | None) -> list[str]:
    """Every warning of the run: the data's and the curves' (from the selection), then the
    quality gate's."""
    return [*selection.warnings, *([gate_message] if gate_message else [])]


def warnings_section(selection: Selection, gate_message: str | None) -> str:
    """Every warning of the run as a Markdown list; empty when none."""
    found = run_warnings(selection, gate_message)
    if not found:
        return ""
    return "## Warnings\n" + "\n".join(f"- {warning}" for warning in found) + "\n"


def interval_text(interval: list[float] | None) -> str:
    """` (95 % interval low-high)`, or nothing without an interval."""
    return f" (95 % interval {interval[0]:.4f}-{interval[1]:.4f})" if interval else ""


def against(name: str, chosen: float, other: float, interval: list[float] | None, who: str) -> str:
    """How the chosen model's metric `name` stands against `who`'s value `other`: beyond noise
    when `other` lies outside the chosen model's 95 % `interval`."""
    better = is_better(name, chosen, other)
    if interval is None:
        return f"{'beats' if better else 'does not beat'} {who} (no interval to judge noise by)"
    if interval[0] <= other <= interval[1]:
        return f"is level with {who} within noise"
    return f"{'beats' if better else 'is worse than'} {who} beyond noise"


def summary_lines(
    selection: Selection, evaluation: Evaluation, gate_message: str | None
) -> list[str]:
    """The report's first lines: the rate to use, the headline test metric with its 95 %
    interval, the chosen rate against the baseline (paired by seed) and its model against the
    trivial predictor and the reference model, beyond noise or not, and the warnings' count."""
    test, task = evaluation.test, evaluation.task
    name = HEADLINE[task]
    value = test.chosen.final[name]
    interval = (test.chosen.intervals or {}).get(name)
    baseline = f"the default rate {evaluation.baseline_lr:g}"
    difference = test.difference[name]
    if len(evaluation.seeds) < 2:
        rate = f"The chosen rate cannot be told from {baseline} (one seed each: no spread)"
    elif difference["larger_than_spread"]:
        better = is_better(name, difference["mean"], 0.0)
        judged = "beats" if better else "is worse than"
        rate = f"The chosen rate {judged} {baseline} beyond noise (paired by seed)"
    else:
        rate = f"The chosen rate is level with {baseline} within noise (paired by seed)"
    others = [
        (test.trivial[name], trivial_name(task)),
        (evaluation.reference.test[name], "the gradient-boosted reference"),
    ]
    model = " and ".join(against(name, value, other, interval, who) for other, who in others)
    count = len(run_warnings(selection, gate_message))
    warnings = f"[{count} warning(s)](#warnings) below" if count else "no warnings"
    return [
        f"**Rate to use: {selection.chosen_lr:.4g}**",
        f"Test {LABELS[name]} **{value:.4f}**{interval_text(interval)} on {test.rows:,} rows.",
        f"{rate}; its model {model}.",
        f"This run has {warnings}.",
    ]


def evaluation_lines(evaluation: Evaluation) -> list[str]:
    """The test results as log lines: headline metric with its interval, the trivial
    predictor, the paired difference, the reference model, and the tuned decision thresholds."""
    test, task = evaluation.test, evaluation.task
    name = HEADLINE[task]
    chosen = test.chosen
    within = interval_text((chosen.intervals or {}).get(name))
    lines = [
        f"test {name}: chosen {chosen.final[name]:.4f}{within}, baseline "
        f"{test.baseline.final[name]:.4f}, {trivial_name(task)} "
        f"{test.trivial[name]:.4f} (final {test.final_model}); paired difference "
        f"{test.difference[name]['mean']:+.4f} ± {test.difference[name]['std']:.4f}"
    ]
    reference = evaluation.reference
    lines.append(
        f"reference {reference.model} ({reference.settings}, fit on "
        f"{reference.fit_on}, {reference.seconds:.1f} s): test {name} "
        f"{reference.test[name]:.4f}"
    )
    tuned = evaluation.decision_threshold
    if tuned and tuned.objective:
        objective = tuned.objective
        lines.append(
            f"decision threshold tuned for {objective} on validation: chosen "
            f"{tuned.chosen:.3f} (test {objective} "
            f"{chosen.final_at_tuned_threshold[objective]:.4f}, "
            f"{chosen.final[objective]:.4f} at 0.5), baseline {tuned.baseline:.3f}"
        )
    return lines


def leakage_note(data_report: dict, refit: bool) -> str:
    """The splits' sizes and their exact twins; which test rows the twin-free table leaves out
    (those with a twin in the rows the final models learned from)."""
    leakage, rows = data_report["leakage"], data_report["rows"]
    left_out = "train_or_val" if refit else "train"
    stratified = data_report.get("stratified", [])
    strata = f"; stratified by class: {', '.join(stratified)}" if stratified else ""
    return (
        f"Splits: {rows['train']} train, {rows['val']} validation, {rows['test']} test rows "
        f"({data_report['split']['split_strategy']} split{strata}). "
        f"{leakage['test_rows_with_twin_in_train']} "
        f"test rows and {leakage['val_rows_with_twin_in_train']} validation rows have an exact "
        f"twin in train ({leakage['twin_definition']}); "
        f"{leakage['test_rows_with_twin_in_train_or_val']} test rows have one in train or "
        f"validation. The second metric table leaves out the "
        f"{leakage[f'test_rows_with_twin_in_{left_out}']} test rows with a twin in "
        f"{trained_on_words(refit)}, which the final models learned from; "
        "`--split-strategy grouped` keeps twins in one split."
    )


def report_markdown(
    title: str,
    selection: Selection,
    evaluation: Evaluation,
    data_report: dict,
    images: Mapping[str, str],
    gate_metric: str = "",
    gate_message: str | None = None,
    since: str = "",
) -> str:
    """The run report. `images` maps chart file names to what an <img> loads: data URIs for the
    Prefect UI, the file names themselves for `report.md` next to the charts. `gate_metric`:
    the metric the verdict checks against the trivial predictor; `gate_message`: the quality
    gate's, when it was not met; `since`: the "Since the last run" section."""
    test = evaluation.test
    suggestions = "\n".join(
        f"| {r['method']}{' (used)' if r['used'] else ''} | "
        + (f"{r['lr']:.3g} | {r['spread']:.1f}x |" if r["lr"] is not None else "no reading | |")
        for r in suggestion_rows(selection)
    )
    charts = "\n\n".join(
        f"### {CHART_TITLES.get(name, name)}\n\n![{name}]({source})"
        for name, source in images.items()
    )
    task = evaluation.task
    reference = evaluation.reference.test
    summary = "  \n".join(summary_lines(selection, evaluation, gate_message))
    return f"""# Learning-rate report: {title}
{summary}

Task: **{task}**.

{warnings_section(selection, gate_message)}
{since}
## Chosen rate: {selection.chosen_lr:.4g}
{selection.reason}.

| curve reading | suggested lr | replicas' spread (q75/q25) |
|---|---|---|
{suggestions}

## Chosen against the default-rate baseline ({evaluation.baseline_lr:g})
{verdict(test, len(evaluation.seeds), task, gate_metric)}

{reference_note(evaluation)}

### Test set ({test.rows} rows, final model: {test.final_model})
{metrics_table(test, task, reference)}

{interval_note(test)}

{threshold_section(evaluation)}

{twin_free_section(evaluation, "###")}

## Leakage
{leakage_note(data_report, evaluation.refit)}

## Charts

{charts}
"""
