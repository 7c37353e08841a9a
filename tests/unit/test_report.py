import base64
from dataclasses import replace

import numpy as np

from lrfinder.metric_names import SCALARS
from lrfinder.reporting.model_card import metric_rows, model_card
from lrfinder.reporting.outputs import selection_record
from lrfinder.reporting.report import (
    confirmation_rows,
    evaluation_lines,
    leakage_note,
    png_data_uri,
    report_markdown,
    summary_lines,
    verdict,
)
from lrfinder.training.evaluation import binary_metrics, compare, task_metrics
from lrfinder.training.results import Evaluation, ReferenceScores, Thresholds
from tests.helpers import evaluation_of, selection_of

READINGS = {"valley": (0.0018, 2.0), "argmin": (0.021, 3.4)}
BY_RATE = [
    {"lr": 0.001, "median": 0.48, "q25": 0.47, "q75": 0.49, "seeds": 2, "rung": 0, "budget": 12},
    {"lr": 0.002, "median": 0.47, "q25": 0.46, "q75": 0.48, "seeds": 2, "rung": 1, "budget": 24},
]
SELECTION = selection_of(READINGS, BY_RATE)
DATA_REPORT = {
    "split": {"split_strategy": "random"},
    "rows": {"train": 80, "val": 20, "test": 25},
    "leakage": {
        "twin_definition": "identical values in every feature column",
        "val_rows_with_twin_in_train": 3,
        "test_rows_with_twin_in_train": 4,
        "test_rows_with_twin_in_train_or_val": 5,
    },
}


def _metrics() -> Evaluation:
    rng = np.random.default_rng(0)
    y = (rng.random(25) > 0.5).astype("float32")
    chosen = np.clip(y * 0.6 + rng.random((2, 25)) * 0.4, 0, 1)
    baseline = rng.random((2, 25))
    return evaluation_of(compare(y, chosen, baseline, "ensemble", trivial=np.full(25, 0.5)))


def test_png_data_uri_round_trips_the_bytes():
    png = b"\x89PNG\r\n\x1a\nrest"
    uri = png_data_uri(png)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == png


def test_report_has_rate_reason_tables_leakage_and_every_chart():
    metrics = _metrics()
    text = report_markdown(
        "run-1", SELECTION, metrics, DATA_REPORT, {"roc.png": "data:image/png;base64,AAAA"}
    )
    assert "## Chosen rate: 0.002\nlowest median val_loss at lr 0.002." in text
    assert "| valley (used) | 0.0018 | 2.0x |" in text and "| argmin | 0.021 | 3.4x |" in text
    assert text.count("| accuracy |") == 2, "full test set and rows without twins"
    assert "4 test rows and 3 validation rows have an exact twin in train" in text
    assert "![roc.png](data:image/png;base64,AAAA)" in text
    assert "### ROC curves on the test set" in text


def test_verdict_says_whether_the_gap_beats_the_seed_spread():
    test = _metrics().test
    sentence = verdict(test, 2)
    d = test.difference["accuracy"]
    assert f"{d['mean']:+.4f} ± {d['std']:.4f}" in sentence
    assert ("not larger" in sentence) != d["larger_than_spread"]
    assert "no spread" in verdict(test, 1)


def test_table_rows_are_flat_records():
    rows = metric_rows(_metrics().test)
    assert tuple(r["metric"] for r in rows) == SCALARS["binary"]
    assert all(isinstance(v, str | float | int | bool) for r in rows for v in r.values())
    marked = confirmation_rows(SELECTION)
    assert [r["chosen"] for r in marked] == [False, True]
    assert confirmation_rows(replace(SELECTION, confirmation=None)) == []


def test_leakage_note_names_the_counts_the_rows_left_out_and_the_fix():
    note = leakage_note(DATA_REPORT, refit=False)
    assert "5 test rows have one in train or validation" in note
    assert "leaves out the 4 test rows with a twin in train, which" in note
    refit = leakage_note(DATA_REPORT, refit=True)
    assert "leaves out the 5 test rows with a twin in train + validation, which" in refit
    assert "--split-strategy grouped" in note


def test_report_flags_warnings_a_majority_class_model_and_curves_without_a_reading():
    y = np.array([0.0] * 23 + [1.0] * 2)
    flat = np.full((2, 25), 0.08)
    test = compare(y, flat, flat, "ensemble", trivial=np.full(25, 0.08))
    at_tuned = binary_metrics(y, flat[0], 0.05)
    test = replace(
        test,
        chosen=replace(test.chosen, final_at_tuned_threshold=at_tuned),
        baseline=replace(test.baseline, final_at_tuned_threshold=at_tuned),
    )
    tuned = Thresholds("f1", 0.05, 0.05, "the 20 validation rows")
    metrics = evaluation_of(test, decision_threshold=tuned)
    selection = selection_of(
        {**READINGS, "argmin": (float("nan"), float("nan"))},
        BY_RATE,
        warnings=("imbalanced classes: class '1' is 8.0 % of the training rows",),
    )
    text = report_markdown("run-2", selection, metrics, DATA_REPORT, {}, "accuracy", "gate: no")
    assert "## Warnings\n- imbalanced classes: class '1' is 8.0 %" in text
    assert "- gate: no" in text
    assert "| argmin | no reading | |" in text
    assert "does not beat the majority-class predictor on accuracy (0.9200 against 0.9200)" in text
    assert "| majority class |" in text
    assert "Decision thresholds tuned for **f1** on the 20 validation rows" in text
    assert "| recall | 1.0000 | 0.0000 |" in text, "all positives called at 0.05, none at 0.5"


def _with_reference(probability: np.ndarray) -> Evaluation:
    """An evaluation with a reference model's probabilities of class 1 on the same 25 test
    rows."""
    rng = np.random.default_rng(0)
    y = (rng.random(25) > 0.5).astype("float32")
    chosen = np.clip(y * 0.3 + rng.random((2, 25)) * 0.7, 0, 1)
    test = compare(y, chosen, rng.random((2, 25)), "ensemble", trivial=np.full(25, 0.5))
    reference = ReferenceScores(
        model="HistGradientBoostingClassifier",
        settings="default settings, random_state=0",
        fit_on="train + validation",
        rows=100,
        seconds=0.4,
        test=binary_metrics(y, probability(y)),
        intervals={},
        test_without_twins=binary_metrics(y, probability(y)),
    )
    return evaluation_of(test, reference=reference)


def test_the_reference_model_has_its_column_and_is_named_when_it_beats_the_network():
    perfect = _with_reference(lambda y: y)
    chosen = perfect.test.chosen.final["accuracy"]
    assert chosen < 1.0
    column = "| majority class | HistGradientBoosting (reference, default settings) |"
    sentence = (
        "A gradient-boosted tree model beats the network on this data "
        f"(accuracy 1.0000 vs {chosen:.4f}): consider it."
    )
    source = {"origin": "test", "files": []}
    report = report_markdown("run-3", SELECTION, perfect, DATA_REPORT, {})
    card = model_card(perfect, source, {}, "a reason")
    test = perfect.test
    finals = [group.final["accuracy"] for group in (test.chosen, test.baseline)]
    row = "| accuracy | {:.4f} | {:.4f} | {:.4f} | 1.0000 | ".format(
        *finals, test.trivial["accuracy"]
    )
    for text in (report, card):
        assert text.count(column) == 2, "full test set and rows without twins"
        assert text.count(row) == 2, "the reference's accuracy beside the majority class's"
        assert sentence in text
        assert (
            "HistGradientBoostingClassifier (default settings, random_state=0), fit on "
            "train + validation (100 rows" in text
        )
    rows = metric_rows(perfect.test, perfect.reference.test)
    assert [r["reference"] for r in rows][:2] == [1.0, 1.0]
    assert any(
        "reference HistGradientBoostingClassifier" in line for line in evaluation_lines(perfect)
    )

    wrong = _with_reference(lambda y: 1 - y)
    report = report_markdown("run-4", SELECTION, wrong, DATA_REPORT, {})
    assert column in report and "test accuracy 0.0000." in report
    assert "beats the network" not in report


def test_the_report_opens_with_the_rate_the_metric_and_verdicts_beyond_noise():
    metrics = _with_reference(lambda y: y)
    test = metrics.test
    accuracy, trivial = test.chosen.final["accuracy"], test.trivial["accuracy"]
    assert trivial < 0.65 < accuracy < 0.95
    chosen = replace(test.chosen, intervals={"accuracy": [0.65, 0.95]})
    metrics = replace(metrics, test=replace(test, chosen=chosen))
    metrics.test.difference["accuracy"] |= {"mean": 0.1, "larger_than_spread": True}
    selection = replace(SELECTION, warnings=("one", "two"))
    lines = report_markdown("run-6", selection, metrics, DATA_REPORT, {}).splitlines()
    assert lines[1:6] == [
        "**Rate to use: 0.002**  ",
        f"Test accuracy **{accuracy:.4f}** (95 % interval 0.6500-0.9500) on 25 rows.  ",
        "The chosen rate beats the default rate 0.001 beyond noise (paired by seed); its model "
        "beats the majority-class predictor beyond noise and is worse than the gradient-boosted "
        "reference beyond noise.  ",
        "This run has [2 warning(s)](#warnings) below.",
        "",
    ]
    assert "## Warnings" in lines

    chosen = replace(test.chosen, intervals={"accuracy": [0.4, 1.0]})
    metrics = replace(metrics, test=replace(metrics.test, chosen=chosen))
    metrics.test.difference["accuracy"]["larger_than_spread"] = False
    wide = summary_lines(SELECTION, metrics, None)
    assert wide[2] == (
        "The chosen rate is level with the default rate 0.001 within noise (paired by seed); its "
        "model is level with the majority-class predictor within noise and is level with the "
        "gradient-boosted reference within noise."
    )
    assert wide[3] == "This run has no warnings."


def test_the_summary_reads_rmse_lower_is_better_and_one_seed_without_a_spread():
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    chosen = y + rng.normal(0, 0.5, (1, 40))
    test = compare(y, chosen, chosen + 0.1, "single", task_metrics("regression"), np.zeros(40))
    rmse = test.chosen.final["rmse"]
    test = replace(test, chosen=replace(test.chosen, intervals={"rmse": [rmse - 0.1, rmse + 0.1]}))
    reference = ReferenceScores("r", "s", "train", 1, 0.1, {"rmse": rmse - 0.3}, {})
    metrics = evaluation_of(test, "regression", seeds=[0], reference=reference)
    lines = summary_lines(SELECTION, metrics, "gate: missed")
    assert lines[1].startswith(f"Test RMSE **{rmse:.4f}** (95 % interval ")
    assert lines[2] == (
        "The chosen rate cannot be told from the default rate 0.001 (one seed each: no spread); "
        "its model beats the training mean beyond noise and is worse than the gradient-boosted "
        "reference beyond noise."
    )
    assert lines[3] == "This run has [1 warning(s)](#warnings) below."
    test = replace(test, chosen=replace(test.chosen, intervals={"rmse": None}))
    metrics = replace(metrics, test=test)
    assert (
        "beats the training mean (no interval to judge noise by)"
        in summary_lines(SELECTION, metrics, None)[2]
    )


def test_selection_json_keeps_its_keys_in_their_order():
    unread = selection_of({**READINGS, "argmin": (float("nan"), float("nan"))}, BY_RATE)
    record = selection_record(unread)
    assert list(record) == [
        "chosen_lr",
        "reason",
        "method",
        "suggestions",
        "warnings",
        "config",
        "confirmation",
    ]
    assert record["suggestions"]["valley"] == {
        "lr": 0.0018,
        "spread": 2.0,
        "disagree": False,
        "per_replica": [0.0018],
    }
    assert record["suggestions"]["argmin"]["lr"] is None
    assert list(record["confirmation"]) == [
        "center",
        "baseline_lr",
        "protocol",
        "extensions",
        "decided_by",
        "rungs",
        "by_rate",
        "runs",
    ]
    assert list(record["confirmation"]["rungs"][0]) == [
        "epochs",
        "medians",
        "kept",
        "epochs_trained",
    ]
    assert record["confirmation"]["by_rate"] == BY_RATE
    assert selection_record(replace(unread, confirmation=None))["confirmation"] is None
