"""Warnings for imbalanced classes and small splits, and the console without final tracebacks."""

import logging

import pandas as pd

from lrfinder.data.checks import data_warnings
from lrfinder.data.splitting import SplitData
from lrfinder.errors import DataError
from runtime.failures import WithoutFinalTracebacks


def split_of(train_labels: list[int], val_rows: int, test_rows: int) -> SplitData:
    """A SplitData with the given train labels and split sizes (one feature)."""
    frame = lambda labels: pd.DataFrame({"a": 0.0, "y": labels})  # noqa: E731
    return SplitData(
        train=frame(train_labels),
        val=frame([0] * val_rows),
        test=frame([0] * test_rows),
        features=["a"],
        target="y",
        scaler={},
        report={
            "rows": {"train": len(train_labels), "val": val_rows, "test": test_rows},
            "leakage": {"val_rows_with_twin_in_train": 0, "test_rows_with_twin_in_train": 0},
        },
    )


def test_a_minority_under_ten_percent_and_small_splits_are_warned_about():
    imbalanced = split_of([0] * 966 + [1] * 34, val_rows=250, test_rows=1293)
    (warning,) = data_warnings(imbalanced, batch_size=32)
    assert warning.startswith("imbalanced classes: class '1' is 3.4% of the training rows")
    assert "--class-weight balanced" in warning

    balanced = split_of([0] * 700 + [1] * 300, val_rows=250, test_rows=1293)
    assert data_warnings(balanced, batch_size=32) == []

    tiny = split_of([0] * 6 + [1] * 6, val_rows=4, test_rows=4)
    found = data_warnings(tiny, batch_size=32)
    assert [w.split(":")[1].strip().split(" has")[0] for w in found] == [
        "the train split",
        "the validation split",
        "the test split",
    ]
    assert "12 rows, 1 batch(es) of 32 (under 20)" in found[0]
    assert "4 rows (under 100)" in found[2]
    no_val = split_of([0] * 6 + [1] * 6, val_rows=0, test_rows=400)
    assert len(data_warnings(no_val, batch_size=1)) == 1, "train only: 12 batches of 1"


def test_the_console_drops_the_traceback_of_final_failures_only():
    formatter = WithoutFinalTracebacks(logging.Formatter("%(message)s"))

    def record(error: Exception) -> logging.LogRecord:
        try:
            raise error
        except Exception as raised:
            info = (type(raised), raised, raised.__traceback__)
        return logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, info)

    data_record = record(DataError("bad.csv: line 3. Fix it."))
    assert formatter.format(data_record) == "failed"
    assert data_record.exc_info is not None, "other handlers (the Prefect API) keep it"
    assert "Traceback" in formatter.format(record(RuntimeError("a bug")))
