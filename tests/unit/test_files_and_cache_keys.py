import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from lrfinder.fileio import atomic_path, sha256_file, write_json_atomic, write_parquet_atomic
from lrfinder.params import SplitSettings
from lrfinder.reporting.outputs import point_latest, run_folder_name
from runtime.cache_keys import stable_form


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "f"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out" / "file.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_writers_replace_the_target(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    write_json_atomic(tmp_path / "a.json", {"x": 2})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 2}
    frame = pd.DataFrame({"a": [1.5]})
    write_parquet_atomic(tmp_path / "a.parquet", frame)
    assert pd.read_parquet(tmp_path / "a.parquet").equals(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.parquet"]


def test_run_folder_name_and_latest_link(tmp_path):
    name = run_folder_name(datetime(2026, 11, 28, 15, 30, 1), "witty lemur/1")
    assert name == "20261128-153001-witty-lemur-1"
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    point_latest(tmp_path, first)
    link = point_latest(tmp_path, second)
    assert link.resolve() == second.resolve()
    assert not Path(link.readlink()).is_absolute()


def test_cache_form_follows_file_content_not_name(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("1,2\n")
    b.write_text("1,2\n")
    assert stable_form(a) == stable_form(b)
    b.write_text("1,3\n")
    assert stable_form(a) != stable_form(b)


def test_cache_form_of_parameters():
    assert stable_form(SplitSettings()) != stable_form(SplitSettings(val_seed=1))
    assert stable_form({"b": 1, "a": [SplitSettings()]}) == stable_form(
        {"a": [SplitSettings()], "b": 1}
    )
