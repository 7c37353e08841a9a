"""Data with few distinct rows, every one repeated: a warning at split time, and an evaluation
that completes with no twin-free test row (metrics say why, not a crash)."""

import json

import numpy as np
import pandas as pd
import pytest

from lrfinder.data.checks import data_warnings, twin_warning
from lrfinder.data.cleaning import CleanData
from lrfinder.data.splitting import split_and_scale
from lrfinder.engine.setup import training_setup
from lrfinder.params import ModelSettings, QualityGateSettings, SplitSettings, TrainingSettings
from lrfinder.reporting.model_card import model_card
from lrfinder.reporting.outputs import metrics_record
from lrfinder.reporting.report import report_markdown
from lrfinder.training.evaluation import NO_TWIN_FREE_ROWS
from lrfinder.training.final import evaluate, train_final
from lrfinder.training.gate import check_gate, twin_hint
from lrfinder.training.results import Evaluation
from tests.helpers import selection_of

DISTINCT, REPEATS = 40, 25


def repeated_rows() -> CleanData:
    """DISTINCT rows of two features and a binary label, each REPEATS times, shuffled."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=DISTINCT), "b": rng.normal(size=DISTINCT)})
    frame["y"] = (frame["a"] > 0).astype("int64")
    frame = pd.concat([frame] * REPEATS, ignore_index=True).sample(frac=1, random_state=1)
    return CleanData(frame.reset_index(drop=True), ["a", "b"], "y")


def test_a_random_split_of_repeated_rows_is_warned_about_and_a_grouped_one_has_no_twins():
    random = split_and_scale(repeated_rows(), SplitSettings())
    warning = twin_warning(random)
    rows = random.report["rows"]
    assert warning is not None
    assert f"{rows['val']:,} of {rows['val']:,} validation rows" in warning
    assert f"{rows['test']:,} of {rows['test']:,} test rows" in warning
    assert "recall of rows seen in training" in warning and "--split-strategy grouped" in warning
    assert warning in data_warnings(random, batch_size=32)

    grouped = split_and_scale(repeated_rows(), SplitSettings(split_strategy="grouped"))
    leakage = grouped.report["leakage"]
    assert leakage["val_rows_with_twin_in_train"] == 0
    assert leakage["test_rows_with_twin_in_train_or_val"] == 0
    assert twin_warning(grouped) is None


def test_a_split_with_a_few_twins_is_not_warned_about():
    clean = repeated_rows()
    distinct = CleanData(clean.frame.drop_duplicates().reset_index(drop=True), ["a", "b"], "y")
    more = pd.concat([distinct.frame] * 2, ignore_index=True).iloc[: DISTINCT + 4]
    split = split_and_scale(CleanData(more, ["a", "b"], "y"), SplitSettings(val_size=0))
    assert (
        0
        < split.report["leakage"]["test_rows_with_twin_in_train"]
        <= split.report["rows"]["test"] / 2
    )
    assert twin_warning(split) is None


@pytest.fixture(scope="module")
def evaluated() -> Evaluation:
    split = split_and_scale(repeated_rows(), SplitSettings())
    model = ModelSettings(n_seeds=2, hidden_layers=[8], batch_size=32)
    trained = train_final(
        split, 0.01, training_setup(model, split), TrainingSettings(max_epochs=2, patience=1)
    )
    return evaluate(trained, split)


def test_evaluation_with_no_twin_free_test_row_says_so_instead_of_failing(evaluated):
    predictions = evaluated.predictions
    empty = {"rows": 0, "reason": NO_TWIN_FREE_ROWS}
    record = metrics_record(evaluated)
    assert record["test_without_twins"] == empty
    assert record["reference"]["test_without_twins"] == empty
    assert evaluated.test.rows == len(predictions)
    assert predictions["has_twin_in_train"].all()
    low, high = evaluated.test.chosen.intervals["accuracy"]
    assert low <= evaluated.test.chosen.final["accuracy"] <= high


def test_report_model_card_and_gate_read_the_missing_twin_free_metrics(evaluated):
    metrics = evaluated
    selection = selection_of({"valley": (0.01, 1.0)}, chosen_lr=0.01, reason="a test")
    leakage = {
        "twin_definition": "identical values in every feature column",
        "val_rows_with_twin_in_train": 1,
        "test_rows_with_twin_in_train": 1,
        "test_rows_with_twin_in_train_or_val": 1,
    }
    data_report = {
        "leakage": leakage,
        "rows": {"train": 1, "val": 1, "test": 1},
        "split": {"split_strategy": "random"},
    }
    report = report_markdown("t", selection, metrics, data_report, {})
    card = model_card(metrics, {"origin": "test", "files": []}, {}, "a test")
    for text in (report, card):
        assert f"training data (0 rows)\nNo metrics: {NO_TWIN_FREE_ROWS}." in text
        assert "Every test row has an exact twin in train, so" in text  # no refit: train only
    rows = metrics.test.rows
    hint = twin_hint(metrics)
    assert f"{rows:,} of {rows:,} test rows have an exact twin in train, so" in hint
    assert "--split-strategy grouped" in hint
    missed = QualityGateSettings(gate_metric="log_loss", gate_value=0.0)  # no log loss is 0
    message = check_gate(metrics, missed)
    assert message is not None and message.endswith(hint)


def test_metrics_json_keeps_its_keys_in_their_order(evaluated):
    record = metrics_record(evaluated)
    assert list(record) == [
        "task",
        "chosen_lr",
        "baseline_lr",
        "seeds",
        "refit",
        "epochs",
        "test",
        "test_without_twins",
        "reference",
        "validation",
        "decision_threshold",
    ]
    test = record["test"]
    assert list(test) == ["final_model", "chosen", "baseline", "difference", "trivial"]
    assert list(test["chosen"]) == [
        "per_seed",
        "across_seeds",
        "ensemble",
        "single",
        "final",
        "intervals",
        "final_at_tuned_threshold",
    ]
    assert list(record["reference"]) == [
        "model",
        "settings",
        "fit_on",
        "rows",
        "seconds",
        "test",
        "intervals",
        "test_without_twins",
    ]
    validation = ["rows", "checked_rows", "final_model", "chosen", "baseline", "difference"]
    assert list(record["validation"]) == validation
    groups = ["per_seed", "across_seeds", "ensemble", "single", "final"]
    assert list(record["validation"]["chosen"]) == groups, "no intervals on validation"
    assert list(record["decision_threshold"]) == ["objective", "chosen", "baseline", "tuned_on"]
    assert json.loads(json.dumps(record)) == record
