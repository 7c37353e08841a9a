"""Split into train/validation/test, report leakage between them, and standardise on train only."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.preprocessing import StandardScaler

from lrfinder.data.cleaning import CleanData, frame_fingerprint, target_summary
from lrfinder.errors import DataError
from lrfinder.params import SplitSettings

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitData:
    """Standardised float32 features and the target (in its own units: 0/1, class index or
    number), per split, with the feature scaler, the task, its classes and a report. For
    regression the model learns the target standardised on train (`target_scaler`)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    features: list[str]
    target: str
    scaler: dict
    report: dict
    task: str = "binary"
    classes: tuple[str, ...] = ("0", "1")
    val_check: pd.DataFrame | None = None

    @property
    def fingerprint(self) -> str:
        parts = [frame_fingerprint(getattr(self, name)) for name in SPLITS]
        parts.append(f"{self.task}:{','.join(self.classes)}")
        if self.val_check is not None:
            parts.append(frame_fingerprint(self.val_check))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in SPLITS}

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Features and the target as the model learns it (0/1, class index, or for regression
        the standardised number) of split `name`, both float32. `val_check` is the validation
        rows that training checks score (the whole split unless it was sampled)."""
        frame = self.val if name == "val_check" and self.val_check is None else getattr(self, name)
        y = frame[self.target].to_numpy("float64")
        if self.task == "regression":
            y = (y - self.scaler["target"]["mean"]) / self.scaler["target"]["scale"]
        return frame[self.features].to_numpy("float32"), y.astype("float32")

    def target_values(self, name: str) -> np.ndarray:
        """The target of split `name` in its own units (class index for classes)."""
        return getattr(self, name)[self.target].to_numpy()

    def to_target_units(self, values: np.ndarray) -> np.ndarray:
        """Regression predictions from the model's standardised scale to the target's units."""
        if self.task != "regression":
            return values
        target = self.scaler["target"]
        return values * target["scale"] + target["mean"]


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


def stratification(task: str) -> dict[str, bool]:
    """Which splits keep the class shares: binary stratifies validation only (the test split
    is the tutorial's random one), multiclass both (rare classes reach every split), regression
    neither (a random split)."""
    return {"test": task == "multiclass", "val": task != "regression"}


def _check_classes(clean: CleanData, config: SplitSettings) -> None:
    """Every class needs a row in each stratified split and two to split from."""
    if clean.task == "regression":
        return
    needed = 3 if config.val_size else 2
    counts = clean.frame[clean.target].value_counts()
    rare = {clean.classes[i]: int(n) for i, n in counts.items() if n < needed}
    if rare:
        shown = dict(list(rare.items())[:10])
        more = f" and {len(rare) - 10} more" if len(rare) > 10 else ""
        raise DataError(
            f"{len(rare)} class(es) of {clean.target!r} with too few rows to split: {shown}{more} "
            f"(each needs at least {needed}: one per split). Fix: merge or drop the rare classes, "
            "supply more rows, or use --task regression for an ordered score."
        )


def split_frame(
    clean: CleanData, config: SplitSettings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rows for (train, val, test); `random` reproduces `train_test_split(X, y, 0.2, 42)` for test."""
    frame = clean.frame
    _check_sizes(len(frame), config)
    _check_classes(clean, config)
    strata = stratification(clean.task)
    grouped = config.split_strategy == "grouped"
    groups = row_keys(frame, clean.features) if grouped else None
    try:
        rest, test = _split_two(
            frame, config.test_size, config.split_seed, groups, strata["test"], clean.target
        )
        if not config.val_size:
            return rest, rest.iloc[:0], test
        rest_groups = row_keys(rest, clean.features) if grouped else None
        train, val = _split_two(
            rest, config.val_size, config.val_seed, rest_groups, strata["val"], clean.target
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split {len(frame)} clean rows ({exc}). Fix: supply more rows of each class, "
            "or lower test_size/val_size."
        ) from exc
    return train, val, test


def check_sample(
    frame: pd.DataFrame, target: str, task: str, rows: int, seed: int
) -> pd.DataFrame | None:
    """At most `rows` rows of `frame`, stratified by class (by decile for regression) and
    seeded, in their original order; None when the frame is no larger."""
    if len(frame) <= rows:
        return None
    labels = frame[target].to_numpy()
    if task == "regression":
        labels = np.digitize(labels, np.quantile(labels, np.linspace(0.1, 0.9, 9)))
    counts = np.unique(labels, return_counts=True)[1]
    # train_test_split needs two rows per stratum and room for every stratum on both sides.
    room = min(rows, len(frame) - rows) >= len(counts)
    strata = labels if counts.min() >= 2 and room else None
    kept, _ = train_test_split(
        np.arange(len(frame)), train_size=rows, random_state=seed, stratify=strata
    )
    return frame.iloc[np.sort(kept)].reset_index(drop=True)


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


def fit_target_scaler(train: pd.DataFrame, target: str) -> dict:
    """Mean and standard deviation of a regression target on train (as StandardScaler)."""
    values = train[target].to_numpy("float64")
    return {"column": target, "fit_on": "train", "mean": values.mean(), "scale": values.std()}


def apply_scaler(frame: pd.DataFrame, scaler: dict, target: str) -> pd.DataFrame:
    """Standardised float32 features under their names, then the target as it is (integer
    classes, or a float64 number)."""
    columns = scaler["columns"]
    values = (frame[columns].to_numpy(dtype="float64") - scaler["mean"]) / scaler["scale"]
    out = pd.DataFrame(values.astype("float32"), columns=columns)
    dtype = "float64" if "target" in scaler else "int64"
    out[target] = frame[target].to_numpy(dtype=dtype)
    return out


def split_and_scale(clean: CleanData, config: SplitSettings) -> SplitData:
    """Split, fit the scaler on train only, scale every split and report sizes and leakage."""
    train, val, test = split_frame(clean, config)
    if train[clean.target].nunique() < 2:
        what = "one value" if clean.task == "regression" else "one class only"
        raise DataError(
            f"the training split's target holds {what}. Fix: supply more rows with other values."
        )
    scaler = fit_scaler(train, clean.features)
    if clean.task == "regression":
        scaler["target"] = fit_target_scaler(train, clean.target)
    features = clean.features
    train_and_val = pd.concat([train, val])
    strata = stratification(clean.task)
    per_split = {
        name: target_summary(part[clean.target], clean.task, clean.classes)
        for name, part in zip(SPLITS, (train, val, test), strict=True)
    }
    key = next(iter(per_split["train"]))
    report = {
        "split": config.model_dump(),
        "stratified": [
            name
            for name, kept in strata.items()
            if kept and config.split_strategy == "random" and (name == "test" or config.val_size)
        ],
        "rows": {"train": len(train), "val": len(val), "test": len(test)},
        "val_check_rows": min(len(val), config.val_check_rows),
        key: {name: summary[key] for name, summary in per_split.items()},
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
    return SplitData(
        **scaled,
        features=features,
        target=clean.target,
        scaler=scaler,
        report=report,
        task=clean.task,
        classes=clean.classes,
        val_check=check_sample(
            scaled["val"], clean.target, clean.task, config.val_check_rows, config.val_seed
        ),
    )
