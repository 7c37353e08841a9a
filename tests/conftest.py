"""Test isolation: Prefect state, results, data and artifacts live in temporary folders."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_STATE = Path(tempfile.mkdtemp(prefix="lrfinder-tests-"))
os.environ["PREFECT_HOME"] = str(_STATE / "prefect-home")
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(_STATE / "prefect-results")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Tests import keras directly: pin the engine's default backend before any import (Keras would
# otherwise follow ~/.keras/keras.json when KERAS_BACKEND is unset).
os.environ["KERAS_BACKEND"] = os.environ.get("KERAS_BACKEND") or "jax"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
for name in ("PREFECT_API_URL", "WINE_DATA", "LRFINDER_DATA_DIR", "LRFINDER_ARTIFACTS_DIR"):
    os.environ.pop(name, None)

ROOT = Path(__file__).resolve().parents[1]
WINE_CSV_CANDIDATES = (
    ROOT / "data" / "winequalityN.csv",
    ROOT.parent / "shared" / "data" / "winequalityN.csv",
)


@pytest.fixture(scope="session")
def wine_csv() -> Path:
    """The shared Wine Quality CSV (CI copies it into data/; a checkout finds it in ../shared)."""
    for candidate in WINE_CSV_CANDIDATES:
        if candidate.is_file():
            return candidate
    pytest.fail(f"wine data not found at {[str(c) for c in WINE_CSV_CANDIDATES]}")


@pytest.fixture(scope="session")
def wine_sample(wine_csv: Path) -> Path:
    """Every fourth row of the wine CSV (1,624 rows, both wine types), for the tests of
    orchestration rather than of the data's numbers: each stage trains on less."""
    lines = wine_csv.read_text().splitlines()
    sample = _STATE / "wine-sample.csv"
    sample.write_text("\n".join([lines[0], *lines[1::4]]) + "\n")
    return sample


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A real `prefect server start` with its own SQLite database for the whole session; its API
    URL is set for this process and the subprocesses tests start."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.prefect_server import prefect_server

    with prefect_server(_STATE / "server") as url, temporary_settings({PREFECT_API_URL: url}):
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty data/ and artifacts/ folders for one test, wired in through the settings' env vars."""
    dirs = {"data": tmp_path / "data", "artifacts": tmp_path / "artifacts"}
    for path in dirs.values():
        path.mkdir()
    monkeypatch.setenv("LRFINDER_DATA_DIR", str(dirs["data"]))
    monkeypatch.setenv("LRFINDER_ARTIFACTS_DIR", str(dirs["artifacts"]))
    return dirs
