"""Read a CSV defensively and turn it into numeric features plus a binary target."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lrfinder.errors import DataError
from lrfinder.fileio import read_maybe_gzip
from lrfinder.data.sources import UCI_COLUMNS, DataSource

WINE_FEATURES = list(UCI_COLUMNS[:-1])
WINE_TYPES = ("red", "white")
MAX_CATEGORIES = 50
MOSTLY_NUMERIC = 0.9
MISSING_TOKENS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


@dataclass(frozen=True)
class LabelRule:
    """How the target column becomes 0/1: `>= threshold` or `== positive_label`."""

    target: str
    threshold: float | None = None
    positive_label: str | None = None
    output_name: str | None = None
    wine: bool = False

    @property
    def output(self) -> str:
        return self.output_name or self.target

    def describe(self) -> str:
        if self.positive_label is not None:
            return f"{self.target} == {self.positive_label!r}"
        return f"{self.target} >= {self.threshold:g}"


def label_rule(
    target: str | None, threshold: float | None, positive_label: str | None
) -> LabelRule:
    """The rule for the flow's parameters: wine preset when `target` is None, own data otherwise."""
    if target is None:
        if positive_label is not None:
            raise ValueError("positive_label needs target: name the column it applies to.")
        return LabelRule(
            "quality", 6.0 if threshold is None else threshold, None, "is_good_wine", True
        )
    if (threshold is None) == (positive_label is None):
        raise ValueError(
            f"target {target!r}: give exactly one of threshold (numeric target, label = value >= "
            "threshold) or positive_label (label = value equals it); pass threshold=None to use "
            "positive_label."
        )
    return LabelRule(target, threshold, positive_label)


@dataclass(frozen=True)
class CleanData:
    """Numeric features and an integer 0/1 target (last column), with what cleaning found."""

    frame: pd.DataFrame
    features: list[str]
    target: str
    report: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return frame_fingerprint(self.frame)


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """Content hash of a frame's columns, dtypes and values."""
    digest = hashlib.sha256(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def read_table(path: Path) -> pd.DataFrame:
    """Every field as stripped text (missing as NaN), indexed by file line, after checking
    encoding, delimiter and shape."""
    try:
        content = read_maybe_gzip(path)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read it as a (gzip) file: {exc}.") from exc
    if not content.strip():
        raise DataError(f"{path}: the file is empty. Fix: point at the CSV that holds the data.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} has bytes that are not UTF-8 (byte {exc.start}: "
            f"{content[exc.start : exc.start + 1]!r}). Fix: re-save the file as UTF-8."
        ) from exc
    header = next(line for line in text.splitlines() if line.strip())
    delimiter = max((",", ";"), key=header.count)
    if header.count(delimiter) == 0:
        seen = "tabs" if "\t" in header else "|" if "|" in header else "no separator at all"
        raise DataError(
            f"{path}: the header (line 1) has no comma or semicolon between columns ({seen}). "
            "Fix: save the file as comma- or semicolon-separated CSV."
        )
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    columns = [name.strip() for name in next(reader)]
    rows, lines = [], []
    for row in reader:
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(columns):
            raise DataError(
                f"{path}: line {reader.line_num} has {len(row)} fields, the header has "
                f"{len(columns)}. Fix that line (a stray separator or a missing value)."
            )
        rows.append(row)
        lines.append(reader.line_num)
    if not rows:
        raise DataError(
            f"{path}: has a header but no data rows. Fix: add rows or pick another file."
        )
    frame = pd.DataFrame(rows, columns=columns, index=pd.Index(lines, name="line"), dtype=object)
    return frame.apply(lambda col: col.str.strip()).mask(lambda f: f.isin(MISSING_TOKENS))


def _require_columns(table: pd.DataFrame, path: Path, required: list[str], hint: str) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; found {list(table.columns)}. Fix: {hint}"
        )


def parse_numeric(table: pd.DataFrame, columns: list[str], path: Path) -> pd.DataFrame:
    """Columns as float64; a non-number or an infinite value raises DataError naming column and line."""
    out = {}
    for column in columns:
        text = table[column]
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = text.notna() & values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{path}: column {column!r}, line {table.index[row]}: {table[column].iloc[row]!r} is not "
                "a number. Fix the value, or leave the field empty to drop the row."
            )
        infinite = np.isinf(values.to_numpy())
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise DataError(
                f"{path}: column {column!r}, line {table.index[row]}: infinite value "
                f"{table[column].iloc[row]!r}. Fix: replace it with a finite number or leave it empty."
            )
        out[column] = values
    return pd.DataFrame(out, index=table.index)


def _wine_types(table: pd.DataFrame, path: Path) -> pd.Series:
    types = table["type"].str.lower()
    unknown = types.notna() & ~types.isin(WINE_TYPES)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"{path}: column 'type', line {table.index[row]}: unknown value {table['type'].iloc[row]!r}; "
            f"expected one of {list(WINE_TYPES)}. Fix the value or drop the row."
        )
    return types


def clean(source: DataSource, rule: LabelRule) -> CleanData:
    """Clean with the wine preset or as own data, as `rule` says."""
    return clean_wine(source, rule) if rule.wine else clean_custom(source, rule)


def clean_wine(source: DataSource, rule: LabelRule | None = None) -> CleanData:
    """The tutorial's cleaning: drop missing rows, `is_white_wine` from type, `quality >= threshold`."""
    rule = rule or label_rule(None, None, None)
    parts = []
    for file in source.files:
        table = read_table(file.path)
        required = list(UCI_COLUMNS) if file.wine_type else ["type", *UCI_COLUMNS]
        _require_columns(
            table, file.path, required, "use the UCI wine file, or pass --target for own data."
        )
        numbers = parse_numeric(table, list(UCI_COLUMNS), file.path)
        types = (
            pd.Series(file.wine_type, index=table.index)
            if file.wine_type
            else _wine_types(table, file.path)
        )
        numbers["is_white_wine"] = types.map({"white": 1.0, "red": 0.0})
        parts.append(numbers)
    numbers = pd.concat(parts, ignore_index=True)
    names = ", ".join(str(f.path) for f in source.files)
    return _finish(numbers, [*WINE_FEATURES, "is_white_wine"], rule, numbers["quality"], {}, names)


def clean_custom(source: DataSource, rule: LabelRule) -> CleanData:
    """Own data: numeric columns as they are, two-valued text as 0/1, other text one-hot encoded."""
    if len(source.files) != 1:
        raise DataError("Own data must be one CSV file; pass its path as `data`.")
    path = source.files[0].path
    table = read_table(path)
    _require_columns(table, path, [rule.target], "name the target column with --target.")
    columns: dict[str, pd.Series] = {}
    encodings: dict[str, dict] = {}
    for column in (c for c in table.columns if c != rule.target):
        if _looks_numeric(table[column]):
            columns[column] = parse_numeric(table, [column], path)[column]
        else:
            encoded, encoding = _encode_text(table[column], column, path)
            columns.update(encoded)
            encodings[column] = encoding
    if not columns:
        raise DataError(f"{path}: no feature columns besides the target {rule.target!r}.")
    features = pd.DataFrame(columns, index=table.index)
    if rule.positive_label is not None:
        target = table[rule.target]
        labels = (target == rule.positive_label).astype("float64").where(target.notna())
    else:
        labels = parse_numeric(table, [rule.target], path)[rule.target]
    return _finish(features, list(features.columns), rule, labels, encodings, str(path))


def _looks_numeric(column: pd.Series) -> bool:
    """True when (nearly) every present value parses as a number; a few typos still count as numeric."""
    present = column.dropna()
    if present.empty:
        return True
    return pd.to_numeric(present, errors="coerce").notna().mean() >= MOSTLY_NUMERIC


def _encode_text(column: pd.Series, name: str, path: Path) -> tuple[dict[str, pd.Series], dict]:
    text = column
    values = sorted(text.dropna().unique())
    if len(values) > MAX_CATEGORIES:
        raise DataError(
            f"{path}: column {name!r} has {len(values)} distinct text values (more than "
            f"{MAX_CATEGORIES}); one-hot encoding it would add as many columns. Fix: drop the "
            "column or encode it as numbers."
        )
    if len(values) <= 2:
        mapping = {value: float(i) for i, value in enumerate(values)}
        return {name: text.map(mapping)}, {"kind": "binary", "one": values[-1], "zero": values[0]}
    encoded = {
        f"{name}={value}": (text == value).astype("float64").where(text.notna()) for value in values
    }
    return encoded, {"kind": "one-hot", "values": values}


def _finish(
    features: pd.DataFrame,
    feature_names: list[str],
    rule: LabelRule,
    target_values: pd.Series,
    encodings: dict,
    source_name: str,
) -> CleanData:
    rows_read = len(features)
    frame = features[feature_names].copy()
    frame["__target"] = target_values.astype("float64")
    frame = frame.dropna()
    rows_dropped = rows_read - len(frame)
    positive = frame.pop("__target")
    if rule.positive_label is None:
        positive = positive >= rule.threshold
    frame[rule.output] = positive.astype("int64")
    counts = frame[rule.output].value_counts().to_dict()
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise DataError(
            f"{source_name}: after labelling with {rule.describe()} every one of the "
            f"{len(frame)} clean rows is class {only}. Fix: choose a threshold or positive_label "
            "that splits the data into two classes."
        )
    report = {
        "rows_read": rows_read,
        "rows_dropped_missing": rows_dropped,
        "rows_clean": len(frame),
        "duplicate_rows": int(frame.duplicated().sum()),
        "label_rule": rule.describe(),
        "target": rule.output,
        "features": feature_names,
        "class_balance": {"0": int(counts.get(0, 0)), "1": int(counts.get(1, 0))},
        "encodings": encodings,
    }
    return CleanData(frame.reset_index(drop=True), feature_names, rule.output, report)
