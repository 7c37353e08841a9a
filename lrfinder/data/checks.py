"""What a data set's size, class balance and repeated rows make doubtful, as warnings: plain
data in, text out."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lrfinder.data.splitting import SplitData

MINORITY_SHARE = 0.10
MIN_TRAIN_BATCHES = 20
MIN_EVAL_ROWS = 100
# Above this share of validation or test rows with an exact twin in train, their metrics
# mostly measure recall of rows seen in training.
MAX_TWIN_SHARE = 0.5
GROUPED_FIX = "--split-strategy grouped keeps identical rows in one split"


def imbalance_warning(split: SplitData) -> str | None:
    """A warning when the rarest class is under MINORITY_SHARE of the training rows."""
    if split.task == "regression":
        return None
    counts = np.bincount(split.target_values("train").astype(int), minlength=len(split.classes))
    rarest = int(np.argmin(counts))
    share = counts[rarest] / counts.sum()
    if share >= MINORITY_SHARE:
        return None
    return (
        f"imbalanced classes: class {split.classes[rarest]!r} is {share:.1%} of the training rows "
        f"({counts[rarest]} of {counts.sum()}, under {MINORITY_SHARE:.0%}): accuracy rewards "
        "predicting the majority class, so read balanced accuracy, MCC and average precision, "
        "the metrics at the tuned decision threshold and the majority-class row; "
        "--class-weight balanced weighs the classes equally in training"
    )


def size_warnings(split: SplitData, batch_size: int) -> list[str]:
    """Warnings for a train split of under MIN_TRAIN_BATCHES batches, and for validation or
    test splits of under MIN_EVAL_ROWS rows."""
    found = []
    rows = len(split.train)
    batches = math.ceil(rows / batch_size)
    if batches < MIN_TRAIN_BATCHES:
        found.append(
            f"small data: the train split has {rows} rows, {batches} batch(es) of {batch_size} "
            f"(under {MIN_TRAIN_BATCHES}): the range test sees the same few batches again and "
            "again, so its curve says little about a rate; use more rows, or a smaller "
            "--batch-size"
        )
    if 0 < len(split.val) < MIN_EVAL_ROWS:
        found.append(
            f"small data: the validation split has {len(split.val)} rows (under "
            f"{MIN_EVAL_ROWS}): the confirmation and early stopping judge rates on so few rows "
            "that their differences are mostly noise"
        )
    if len(split.test) < MIN_EVAL_ROWS:
        found.append(
            f"small data: the test split has {len(split.test)} rows (under {MIN_EVAL_ROWS}): "
            "its metrics are uncertain; read them with their 95 % intervals"
        )
    return found


def twin_warning(split: SplitData) -> str | None:
    """A warning when over MAX_TWIN_SHARE of the validation or the test rows have an exact twin
    (same features) in train, else None."""
    leakage, rows = split.report["leakage"], split.report["rows"]
    counts = {
        "validation": (leakage["val_rows_with_twin_in_train"], rows["val"]),
        "test": (leakage["test_rows_with_twin_in_train"], rows["test"]),
    }
    found = [
        f"{twins:,} of {total:,} {name} rows"
        for name, (twins, total) in counts.items()
        if total and twins > MAX_TWIN_SHARE * total
    ]
    if not found:
        return None
    return (
        f"repeated rows: {' and '.join(found)} have an exact twin in train (over "
        f"{MAX_TWIN_SHARE:.0%}), so their metrics mostly measure recall of rows seen in "
        f"training, not how the model does on new rows; {GROUPED_FIX}"
    )


def data_warnings(split: SplitData, batch_size: int) -> list[str]:
    """Every warning the split's balance, size and repeated rows call for."""
    found = [imbalance_warning(split), *size_warnings(split, batch_size), twin_warning(split)]
    return [warning for warning in found if warning]
