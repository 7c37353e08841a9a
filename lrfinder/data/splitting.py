"""Split into train/validation/test, report leakage between them, and standardise on train only."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.preprocessing import StandardScaler

from lrfinder.data.cleaning import CleanData, frame_fingerprint
from lrfinder.errors import DataError
from lrfinder.params import SplitSettings

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitData:
    """Standardised float32 features and the integer target, per split, with the scaler and a report."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    features: list[str]
    target: str
    scaler: dict
    report: dict

    @property
    def fingerprint(self) -> str:
        parts = [frame_fingerprint(getattr(self, name)) for name in SPLITS]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in SPLITS}

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Features (float32) and target (float32 0/1) of split `name` as arrays."""
        frame = getattr(self, name)
        return frame[self.features].to_numpy("float32"), frame[self.target].to_numpy("float32")


def row_keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One 64-bit hash per row of `columns`: equal rows get equal keys."""
    return pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()


def count_twins(reference: pd.DataFrame, other: pd.DataFrame, columns: list[str]) -> int:
    """How many rows of `other` have an exact twin (same `columns` values) in `reference`."""
    if reference.empty or other.empty:
        return 0
    return int(np.isin(row_keys(other, columns), row_keys(reference, columns)).sum())


def _check_sizes(n_rows: int, config: SplitSettings) -> None:
    n_test = math.ceil(n_rows * config.test_size)
    n_val = math.ceil((n_rows - n_test) * config.val_size) if config.val_size else 0
    n_train = n_rows - n_test - n_val
    if n_test < 1 or n_train < 2 or (config.val_size and n_val < 2):
        raise DataError(
            f"too few rows to split: {n_rows} clean rows give train {n_train}, validation "
            f"{n_val}, test {n_test}. Fix: supply more rows, or lower test_size/val_size."
        )


def _split_two(
    frame: pd.DataFrame,
    size: float,
    seed: int,
    groups: np.ndarray | None,
    stratify: bool,
    target: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if groups is not None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=seed)
        keep, held = next(splitter.split(frame, groups=groups))
        return frame.iloc[keep], frame.iloc[held]
    labels = frame[target] if stratify else None
    return train_test_split(frame, test_size=size, random_state=seed, stratify=labels)


def split_frame(
    clean: CleanData, config: SplitSettings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rows for (train, val, test); `random` reproduces `train_test_split(X, y, 0.2, 42)` for test."""
    frame = clean.frame
    _check_sizes(len(frame), config)
    grouped = config.split_strategy == "grouped"
    groups = row_keys(frame, clean.features) if grouped else None
    try:
        rest, test = _split_two(
            frame, config.test_size, config.split_seed, groups, False, clean.target
        )
        if not config.val_size:
            return rest, rest.iloc[:0], test
        rest_groups = row_keys(rest, clean.features) if grouped else None
        train, val = _split_two(
            rest, config.val_size, config.val_seed, rest_groups, True, clean.target
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split {len(frame)} clean rows ({exc}). Fix: supply more rows of each class, "
            "or lower test_size/val_size."
        ) from exc
    return train, val, test


def fit_scaler(train: pd.DataFrame, features: list[str]) -> dict:
    """StandardScaler parameters fit on `train`, as JSON-ready lists."""
    scaler = StandardScaler().fit(train[features].to_numpy(dtype="float64"))
    return {
        "kind": "StandardScaler",
        "fit_on": "train",
        "columns": list(features),
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "var": scaler.var_.tolist(),
        "n_samples_seen": int(scaler.n_samples_seen_),
    }


def apply_scaler(frame: pd.DataFrame, scaler: dict, target: str) -> pd.DataFrame:
    """Standardised float32 features under their names, then the integer target."""
    columns = scaler["columns"]
    values = (frame[columns].to_numpy(dtype="float64") - scaler["mean"]) / scaler["scale"]
    out = pd.DataFrame(values.astype("float32"), columns=columns)
    out[target] = frame[target].to_numpy(dtype="int64")
    return out


def _balance(frame: pd.DataFrame, target: str) -> dict[str, int]:
    counts = frame[target].value_counts()
    return {"0": int(counts.get(0, 0)), "1": int(counts.get(1, 0))}


def split_and_scale(clean: CleanData, config: SplitSettings) -> SplitData:
    """Split, fit the scaler on train only, scale every split and report sizes and leakage."""
    train, val, test = split_frame(clean, config)
    if train[clean.target].nunique() < 2:
        raise DataError(
            "the training split holds one class only. Fix: supply more rows of each class."
        )
    scaler = fit_scaler(train, clean.features)
    features = clean.features
    train_and_val = pd.concat([train, val])
    report = {
        "split": config.model_dump(),
        "rows": {"train": len(train), "val": len(val), "test": len(test)},
        "class_balance": {
            name: _balance(part, clean.target)
            for name, part in zip(SPLITS, (train, val, test), strict=True)
        },
        "leakage": {
            "twin_definition": "identical values in every feature column",
            "val_rows_with_twin_in_train": count_twins(train, val, features),
            "test_rows_with_twin_in_train": count_twins(train, test, features),
            "test_rows_with_twin_in_train_or_val": count_twins(train_and_val, test, features),
        },
    }
    scaled = {
        name: apply_scaler(part, scaler, clean.target)
        for name, part in zip(SPLITS, (train, val, test), strict=True)
    }
    return SplitData(**scaled, features=features, target=clean.target, scaler=scaler, report=report)
