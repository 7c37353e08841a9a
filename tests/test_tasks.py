"""The data tasks called through `.fn`: the wrappers without the Prefect engine."""

import json

import pandas as pd
import pytest
from prefect.states import Completed, Failed

from lrfinder.data.cleaning import label_rule
from lrfinder.engine.setup import training_setup
from lrfinder.errors import DataError, TransientDownloadError
from lrfinder.params import DataSettings, SplitSettings
from lrfinder.paths import Paths
from tasks.data import load_clean, locate_data, retry_on_transient, split_scale, write_data

EXPECTED_FILES = ["data_report.json", "scaler.json", "test.parquet", "train.parquet", "val.parquet"]


@pytest.fixture(scope="module")
def stages(wine_csv, tmp_path_factory):
    settings = Paths(
        data_dir=tmp_path_factory.mktemp("data"), artifacts_dir=tmp_path_factory.mktemp("a")
    )
    source = locate_data.fn(str(wine_csv), settings)
    clean = load_clean.fn(
        source, label_rule(DataSettings(target=None, threshold=6, positive_label=None))
    )
    split = split_scale.fn(clean, SplitSettings())
    return source, clean, split


def test_locate_load_split_on_the_shared_data(stages):
    source, clean, split = stages
    assert (
        source.files[0].sha256 == "ae21023e87b1d81f4994c011fbbeead69b5b0a23394e46d6f008d6945525c03c"
    )
    assert clean.report["rows_read"] == 6497
    assert clean.report["rows_dropped_missing"] == 34
    assert len(clean.frame) == 6463
    assert clean.report["duplicate_rows"] == 1168
    assert len(split.test) == 1293
    assert len(split.train) + len(split.val) == 6463 - 1293


def test_write_data_produces_every_documented_file(stages, tmp_path):
    source, clean, split = stages
    written = write_data.fn(tmp_path / "run", source, clean, split)
    assert sorted(p.rsplit("/", 1)[-1] for p in written) == EXPECTED_FILES
    report = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert report["source"]["files"][0]["sha256"] == source.files[0].sha256
    assert report["cleaning"]["rows_clean"] == 6463
    assert report["rows"]["test"] == 1293
    assert report["leakage"]["test_rows_with_twin_in_train_or_val"] > 0
    train = pd.read_parquet(tmp_path / "run" / "train.parquet")
    assert list(train.columns) == [*clean.features, "is_good_wine"]


def test_bad_input_fails_in_load_clean_before_any_output(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("type,quality\nwhite,6\n")
    settings = Paths(data_dir=tmp_path, artifacts_dir=tmp_path / "artifacts")
    source = locate_data.fn(str(bad), settings)
    with pytest.raises(DataError, match=r"bad\.csv: missing column"):
        load_clean.fn(
            source, label_rule(DataSettings(target=None, threshold=6, positive_label=None))
        )
    assert not (tmp_path / "artifacts").exists()


def test_only_transient_download_failures_are_retried():
    assert retry_on_transient(None, None, Failed(data=TransientDownloadError("503")))
    assert not retry_on_transient(None, None, Failed(data=DataError("404")))
    assert not retry_on_transient(None, None, Completed(data=1))


def test_sweep_and_select_tasks_write_their_outputs(stages, tmp_path):
    from lrfinder.params import (
        ExecutionSettings,
        ModelSettings,
        RangeTestSettings,
        SelectionSettings,
    )
    from tasks.select import select, write_select
    from tasks.sweep import sweep, write_sweep

    _, _, split = stages
    model, execution = ModelSettings(n_seeds=2, hidden_layers=[16, 16]), ExecutionSettings()
    setup = training_setup(model, split)
    found = sweep.fn(split, setup, RangeTestSettings(num_steps=60), execution)
    assert found.range_test.summary["train_rows"] == len(split.train)
    assert set(found.curves["replica"]) == {0, 1}
    settings = SelectionSettings(suggest_method="steepest", confirm=False)
    selection = select.fn(split, found, settings, None, execution)
    assert selection.chosen_lr == selection.aggregates["steepest"].lr
    assert "not confirmed" in selection.reason
    written = write_sweep.fn(tmp_path, found) + write_select.fn(tmp_path, found, selection)
    names = sorted(p.rsplit("/", 1)[-1] for p in written)
    assert names == ["lr_finder.png", "range_test.json", "range_test.parquet", "selection.json"]
    saved = json.loads((tmp_path / "selection.json").read_text())
    assert saved["chosen_lr"] == selection.chosen_lr and saved["confirmation"] is None
