"""Read a CSV defensively and turn it into numeric features plus the target the task needs."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from lrfinder.data.sources import UCI_COLUMNS, DataSource
from lrfinder.errors import DataError
from lrfinder.fileio import read_maybe_gzip
from lrfinder.params import DataSettings

WINE_FEATURES = list(UCI_COLUMNS[:-1])
WINE_TYPES = ("red", "white")
MAX_CATEGORIES = 50
MOSTLY_NUMERIC = 0.9
MISSING_TOKENS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


@dataclass(frozen=True)
class LabelRule:
    """How the target column becomes what the model learns. `binary`: 0/1 by `>= threshold` or
    `== positive_label` (or, with neither, a column of exactly two values: the larger is 1);
    `multiclass`: its values as classes; `regression`: the number itself. `task` None is
    inferred from the values when the data is read."""

    target: str
    threshold: float | None = None
    positive_label: str | None = None
    output_name: str | None = None
    wine: bool = False
    task: str | None = None

    @property
    def output(self) -> str:
        return self.output_name or self.target

    def describe(self) -> str:
        if self.task == "multiclass":
            return f"{self.target} as classes"
        if self.task == "regression":
            return f"{self.target} as a number"
        if self.positive_label is not None:
            return f"{self.target} == {self.positive_label!r}"
        if self.threshold is not None:
            return f"{self.target} >= {self.threshold:g}"
        return f"{self.target}, task inferred from its values"


def label_rule(data: DataSettings) -> LabelRule:
    """The rule of the data settings: the wine preset's when no target is named, own data's
    otherwise."""
    if data.target is None:
        if data.task in ("multiclass", "regression"):
            return LabelRule("quality", output_name="quality", wine=True, task=data.task)
        threshold = 6.0 if data.threshold is None else data.threshold
        return LabelRule("quality", threshold, None, "is_good_wine", True, "binary")
    return LabelRule(data.target, data.threshold, data.positive_label, task=data.known_task)


@dataclass(frozen=True)
class CleanData:
    """Numeric features and the target (last column): 0/1 (binary), a class index (multiclass,
    `classes` names them in index order) or a number (regression); with what cleaning found."""

    frame: pd.DataFrame
    features: list[str]
    target: str
    report: dict = field(default_factory=dict)
    task: str = "binary"
    classes: tuple[str, ...] = ("0", "1")

    @property
    def fingerprint(self) -> str:
        return frame_fingerprint(self.frame) + f"|{self.task}|{','.join(self.classes)}"


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


def _require_columns(
    table: pd.DataFrame, path: Path, required: list[str], hint: str, blank_ok: bool = False
) -> None:
    """Every name in the header (line 1) once (blank ones excepted when `blank_ok`: columns
    that are ignored, such as a spreadsheet's trailing empty cells), and every `required`
    column present."""
    names = [str(c) for c in table.columns]
    repeated = {
        name: [i + 1 for i, other in enumerate(names) if other == name]
        for name in dict.fromkeys(n for n in names if names.count(n) > 1 and (n or not blank_ok))
    }
    missing = [c for c in required if c not in names]
    problems = [
        f"the header (line 1) names {name!r} {len(at)} times (columns {', '.join(map(str, at))})"
        for name, at in repeated.items()
    ]
    if missing:
        problems.append(f"missing column(s) {missing}")
    if not problems:
        return
    fixes = [hint] if missing else []
    if repeated:
        fixes.insert(0, "give each column its own name (a repeated one may stand for a missing one)")
    raise DataError(f"{path}: {'; '.join(problems)}; found {names}. Fix: {'; '.join(fixes)}")


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
    rule = rule or label_rule(DataSettings())
    parts = []
    ignored: list[str] = []
    for file in source.files:
        table = read_table(file.path)
        required = list(UCI_COLUMNS) if file.wine_type else ["type", *UCI_COLUMNS]
        hint = "use the UCI wine file, or pass --target for own data."
        _require_columns(table, file.path, required, hint, blank_ok=True)
        names = dict.fromkeys(str(c) for c in table.columns)
        ignored += [c for c in names if c not in required and c not in ignored]
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
    features = [*WINE_FEATURES, "is_white_wine"]
    return _finish(numbers, features, rule, numbers["quality"], {}, names, ignored)


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
    target = table[rule.target]
    if rule.threshold is not None or rule.task == "regression":
        _require_numbers(target, rule, path)
    if rule.positive_label is None and _looks_numeric(target):
        # A numeric target with a typo: the line is named, rather than the typo becoming text.
        target = parse_numeric(table, [rule.target], path)[rule.target]
    return _finish(features, list(features.columns), rule, target, encodings, str(path))


def _require_numbers(target: pd.Series, rule: LabelRule, path: Path) -> None:
    """A rule that needs numbers gets a text target: name its first text value and the fix."""
    numbers = pd.to_numeric(target, errors="coerce")
    text = target.notna() & numbers.isna()
    if text.any() and not _looks_numeric(target):
        row = int(np.flatnonzero(text.to_numpy())[0])
        needs = "--task regression" if rule.task == "regression" else "--threshold"
        raise DataError(
            f"{path}: target column {rule.target!r} holds text (line {target.index[row]}: "
            f"{target.iloc[row]!r}), but {needs} needs numbers. Fix: use --task multiclass (its "
            "values as classes) or --task binary with --positive-label, or pick a numeric column."
        )


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
    ignored: list[str] | None = None,
) -> CleanData:
    """Drop rows with a missing value, settle the target and write the cleaning report;
    `ignored`: the file's columns that are no feature (the wine preset's extra columns)."""
    rows_read = len(features)
    frame = features[feature_names].copy()
    frame["__target"] = target_values
    frame = frame.dropna()
    rows_dropped = rows_read - len(frame)
    rule, labels, classes = settle_target(rule, frame.pop("__target"), source_name)
    frame[rule.output] = labels
    report = {
        "rows_read": rows_read,
        "rows_dropped_missing": rows_dropped,
        "rows_clean": len(frame),
        "duplicate_rows": int(frame.duplicated().sum()),
        "task": rule.task,
        "label_rule": rule.describe(),
        "target": rule.output,
        "features": feature_names,
        "ignored_columns": ignored or [],
        **target_summary(frame[rule.output], rule.task, classes),
        "encodings": encodings,
    }
    data = frame.reset_index(drop=True)
    return CleanData(data, feature_names, rule.output, report, rule.task, classes)


def target_summary(target: pd.Series, task: str, classes: tuple[str, ...]) -> dict:
    """Rows per class (by name) for classes; mean, standard deviation and range for a number."""
    if task == "regression":
        values = target.to_numpy("float64")
        stats = ("mean", "std", "min", "max")
        if not len(values):
            return {"target_summary": dict.fromkeys(stats)}
        return {"target_summary": {name: float(getattr(values, name)()) for name in stats}}
    counts = target.value_counts()
    return {"class_balance": {name: int(counts.get(i, 0)) for i, name in enumerate(classes)}}


def settle_target(
    rule: LabelRule, target: pd.Series, where: str
) -> tuple[LabelRule, pd.Series, tuple[str, ...]]:
    """The rule with its task settled, the target as the model learns it (0/1 or class index as
    int64, or float64) and the class names (empty for regression), from the clean rows' target
    values (numbers, or text from an own CSV)."""
    name = rule.target
    if target.empty:
        raise DataError(
            f"{where}: no clean rows: every row has a missing value. Fix: fill or drop the "
            "columns with gaps."
        )
    numbers = pd.to_numeric(target, errors="coerce")
    numeric = bool(numbers.notna().all())
    values = np.sort(numbers.unique()) if numeric else np.array(sorted(target.unique()))
    names = tuple(_class_name(v) if numeric else str(v) for v in values)
    has_rule = rule.threshold is not None or rule.positive_label is not None
    if len(values) < 2 and not has_rule:
        raise DataError(
            f"{where}: target {name!r} has one value ({names[0] if names else 'none'}) in all "
            f"{len(target)} clean rows: there is nothing to learn. Fix: pick another --target, "
            "or check the file."
        )
    task = rule.task or _inferred_task(name, values, numeric, where)
    if task == "regression":
        return replace(rule, task=task), numbers.astype("float64"), ()
    if task == "multiclass":
        index = {v: i for i, v in enumerate(values)}
        labels = (numbers if numeric else target).map(index).astype("int64")
        return replace(rule, task=task), labels, names
    if rule.positive_label is not None:
        positive = target.astype(str) == rule.positive_label
    elif rule.threshold is not None:
        positive = numbers >= rule.threshold
    elif len(values) == 2:
        positive = (numbers if numeric else target) == values[1]
        given = {"threshold": float(values[1])} if numeric else {"positive_label": str(values[1])}
        rule = replace(rule, **given)
    else:
        raise DataError(
            f"{where}: --task binary, but target {name!r} has {len(values)} distinct values and "
            "no rule makes two classes of them. Fix: pass --threshold T (1 when value >= T) or "
            "--positive-label V (1 when value == V), or use --task multiclass."
        )
    rule = replace(rule, task="binary")
    labels = positive.astype("int64")
    if labels.nunique() < 2:
        raise DataError(
            f"{where}: after labelling with {rule.describe()} every one of the {len(labels)} "
            f"clean rows is class {labels.iloc[0]}. Fix: choose a threshold or positive_label "
            "that splits the data into two classes."
        )
    return rule, labels, ("0", "1")


def _class_name(value: float) -> str:
    """A numeric class's name: `3` for 3.0, the shortest exact form otherwise."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _inferred_task(name: str, values: np.ndarray, numeric: bool, where: str) -> str:
    """Only where it is safe: text with more than two values is multiclass, two values (text,
    or the numbers 0 and 1) binary; any other number is ambiguous."""
    if not numeric:
        return "binary" if len(values) == 2 else "multiclass"
    if len(values) == 2 and set(values.tolist()) <= {0.0, 1.0}:
        return "binary"
    raise DataError(
        f"{where}: target {name!r} is numeric with {len(values)} distinct values, which could "
        "mean a number to predict, classes, or a threshold to apply. Fix: pass --task "
        "regression, --task multiclass, or --task binary with --threshold T."
    )
