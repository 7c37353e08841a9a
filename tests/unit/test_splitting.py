import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from lrfinder.data.cleaning import CleanData
from lrfinder.data.splitting import (
    apply_scaler,
    count_twins,
    fit_scaler,
    split_and_scale,
)
from lrfinder.errors import DataError
from lrfinder.params import SplitSettings

FEATURES = ["a", "b"]


def make_clean(n: int = 100, duplicates: int = 0, seed: int = 0) -> CleanData:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(5, 2, n), "b": rng.normal(-1, 3, n)})
    frame["y"] = (frame["a"] + rng.normal(0, 1, n) > 5).astype("int64")
    if duplicates:
        frame = pd.concat([frame, frame.iloc[:duplicates]], ignore_index=True)
    return CleanData(frame, FEATURES, "y")


def test_random_split_reproduces_the_tutorial_split_and_scaling():
    clean = make_clean(200)
    split = split_and_scale(clean, SplitSettings(val_size=0))
    x_train, x_test, _, y_test = train_test_split(
        clean.frame[FEATURES], clean.frame["y"], test_size=0.2, random_state=42
    )
    scaler = StandardScaler().fit(x_train)
    np.testing.assert_allclose(split.test[FEATURES], scaler.transform(x_test), atol=1e-6)
    assert split.test["y"].tolist() == y_test.tolist()
    assert len(split.val) == 0


def test_validation_split_is_stratified_and_scaler_fit_on_train_only():
    split = split_and_scale(make_clean(500), SplitSettings(val_size=0.25, val_seed=3))
    assert split.report["rows"] == {"train": 300, "val": 100, "test": 100}
    train_rate = split.train["y"].mean()
    assert abs(split.val["y"].mean() - train_rate) < 0.02
    assert split.scaler["n_samples_seen"] == 300
    np.testing.assert_allclose(split.train[FEATURES].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(split.train[FEATURES].std(ddof=0), 1, atol=1e-5)
    assert abs(split.val["a"].mean()) > 1e-4


def test_output_dtypes_are_float32_features_and_integer_target():
    split = split_and_scale(make_clean(), SplitSettings())
    for frame in split.frames().values():
        assert list(frame.columns) == [*FEATURES, "y"]
        assert all(frame[c].dtype == "float32" for c in FEATURES)
        assert frame["y"].dtype == "int64"


def test_leakage_counts_twins_and_grouped_split_removes_them():
    clean = make_clean(100, duplicates=60)
    random = split_and_scale(clean, SplitSettings())
    leakage = random.report["leakage"]
    assert leakage["test_rows_with_twin_in_train"] > 0
    assert leakage["test_rows_with_twin_in_train_or_val"] >= leakage["test_rows_with_twin_in_train"]
    grouped = split_and_scale(clean, SplitSettings(split_strategy="grouped"))
    assert grouped.report["leakage"]["test_rows_with_twin_in_train_or_val"] == 0
    assert grouped.report["leakage"]["val_rows_with_twin_in_train"] == 0
    assert sum(grouped.report["rows"].values()) == 160


def test_count_twins():
    reference = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    other = pd.DataFrame({"a": [1.0, 2.0, 1.0], "b": [3.0, 5.0, 3.0]})
    assert count_twins(reference, other, FEATURES) == 2
    assert count_twins(reference, other.iloc[:0], FEATURES) == 0


def test_scaler_round_trip():
    frame = pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, 2.0], "y": [0, 1]})
    scaler = fit_scaler(frame, FEATURES)
    assert scaler["mean"] == [2.0, 2.0]
    assert scaler["scale"] == [1.0, 1.0]
    assert apply_scaler(frame, scaler, "y")["a"].tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("n", [2, 4])
def test_too_few_rows_to_split(n):
    clean = CleanData(
        pd.DataFrame({"a": range(n), "b": range(n), "y": [0, 1] * (n // 2)}), FEATURES, "y"
    )
    with pytest.raises(DataError, match=rf"too few rows to split: {n} clean rows"):
        split_and_scale(clean, SplitSettings())


def test_classes_too_rare_for_a_stratified_split():
    frame = pd.DataFrame({"a": range(30), "b": range(30), "y": [1] + [0] * 29})
    with pytest.raises(
        DataError, match=r"too few rows to split: \{'1': 1\} \(each needs at least 3"
    ):
        split_and_scale(CleanData(frame, FEATURES, "y"), SplitSettings(split_seed=1))
