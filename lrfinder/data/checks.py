"""What a data set's size and class balance make doubtful, as warnings: plain data in, text out."""

from __future__ import annotations

import math

import numpy as np

from lrfinder.data.splitting import SplitData

MINORITY_SHARE = 0.10
MIN_TRAIN_BATCHES = 20
MIN_EVAL_ROWS = 100


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
        read = "" if split.task == "regression" else "; read them with their 95 % intervals"
        found.append(
            f"small data: the test split has {len(split.test)} rows (under {MIN_EVAL_ROWS}): "
            f"its metrics are uncertain{read}"
        )
    return found


def data_warnings(split: SplitData, batch_size: int) -> list[str]:
    """Every warning the split's balance and size call for."""
    imbalance = imbalance_warning(split)
    return ([imbalance] if imbalance else []) + size_warnings(split, batch_size)
