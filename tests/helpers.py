"""Small synthetic inputs and a local HTTP server for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lrfinder.data.sources import UCI_COLUMNS
from lrfinder.engine.recipe import recipe_of
from lrfinder.lr.confirm import Confirmation, Rung
from lrfinder.lr.selection import Selection
from lrfinder.lr.suggest import Aggregate
from lrfinder.params import SelectionSettings, TrainingSettings
from lrfinder.training.fit import Fit
from lrfinder.training.results import Comparison, Evaluation, ReferenceScores

HEADER = ",".join(["type", *UCI_COLUMNS])
ROOT = Path(__file__).resolve().parents[1]

# The files each stage adds to a run folder.
DATA_FILES = {"train.parquet", "val.parquet", "test.parquet", "scaler.json", "data_report.json"}
SWEEP_FILES = {"range_test.parquet", "range_test.json"}
SELECT_FILES = {"selection.json", "lr_finder.png", "confirmation.png"}
MODEL_FILES = {
    "model.keras",
    "metrics.json",
    "predictions.parquet",
    "model_card.md",
    "training_curves.png",
    "confusion_matrix.png",
    "roc.png",
}
PUBLISH_FILES = {"report.md", "history.png"}
ALL_FILES = DATA_FILES | SWEEP_FILES | SELECT_FILES | MODEL_FILES | PUBLISH_FILES
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Task runs of one flow run in-process (the stages, their writers, publish, finish, gate).
STAGES = (
    "open-run-folder", "locate-data", "load-clean", "split-scale", "write-data-outputs", "sweep",
    "write-sweep-outputs", "select", "write-selection-outputs", "train", "evaluate",
    "write-model-outputs", "record-run", "publish-report", "finish-run", "quality-gate",
)  # fmt: skip
N_TASKS = len(STAGES)
# The stages whose results are cached across runs, and those before the final training.
CACHED_STAGES = ("load-clean", "split-scale", "sweep", "select", "train")
EARLIER = CACHED_STAGES[:-1]

# A tiny MLP for engine-level tests, as model settings.
TINY = {"hidden_layers": [8, 8], "batch_size": 16}
# A flow run of a few seconds a stage on the wine data (flat settings, as on the command line).
SMALL_SWEEP = {
    "n_seeds": 2,
    "num_steps": 40,
    "hidden_layers": [16, 16],
    "confirm_candidates": 3,
    "first_rung_epochs": 1,
    "confirm_extensions": 0,
    "max_epochs": 2,
    "patience": 1,
}
# The tutorial's network: a final training of about a minute on 2 cores.
WIDE = {"hidden_layers": [128, 256, 256]}


def recipe(
    n_features: int,
    hidden: tuple[int, ...] | None = None,
    batch_size: int | None = None,
    head=None,
    **model,
):
    """The engine recipe of a small MLP (TINY, Adam, ReLU, binary head unless told otherwise)."""
    from lrfinder.model.heads import BINARY
    from lrfinder.params import ModelSettings

    settings = ModelSettings(
        hidden_layers=list(hidden or TINY["hidden_layers"]),
        batch_size=batch_size or TINY["batch_size"],
        **model,
    )
    return recipe_of(settings, n_features, head or BINARY)


def flow_parameters(**flat) -> dict:
    """The flow's nested parameters from flat setting names (as on the command line)."""
    from lrfinder.params import nest

    return nest(flat)


def cli_flags(settings: dict) -> list[str]:
    """Command-line flags for flat setting names: `{"n_seeds": 2}` -> `--n-seeds 2`."""
    flags = []
    for name, value in settings.items():
        values = value if isinstance(value, list) else [value]
        flags += [f"--{name.replace('_', '-')}", *(str(v) for v in values)]
    return flags


def one_fast(values: Iterable, fast: object) -> list:
    """`values` as test parameters: `fast` in both tiers, every other one marked `slow` (in the
    full tier only)."""
    return [
        value if value == fast else pytest.param(value, marks=pytest.mark.slow) for value in values
    ]


def run_cli(
    argv: list[str], env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """`python -m flows ARGV` in a fresh process, as `make run` starts it (the test process's
    environment, with `env` on top); its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "flows", *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def tiny_classification(seed: int, n_rows: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Four noisy features, the label mostly from the first."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=n_rows) > 0).astype("float32")
    return x, y


def wine_row(i: int, wine_type: str = "white", quality: int | None = None) -> str:
    """A plausible combined-layout row; quality alternates 5/6 unless given."""
    values = [7.0 + i % 5, 0.3, 0.3, 2.0 + i % 7, 0.05, 30.0, 120.0, 0.995, 3.2, 0.5, 10.0 + i % 3]
    q = quality if quality is not None else (5 if i % 2 else 6)
    return ",".join([wine_type, *(f"{v:g}" for v in values), str(q)])


def wine_csv_text(n_rows: int = 40) -> str:
    rows = [wine_row(i, "white" if i % 3 else "red") for i in range(n_rows)]
    return "\n".join([HEADER, *rows]) + "\n"


def uci_file_text(n_rows: int, seed: int) -> str:
    """A UCI-layout file: quoted, semicolon-separated header, `n_rows` random rows."""
    rng = np.random.default_rng(seed)
    header = ";".join(f'"{c}"' for c in UCI_COLUMNS)
    rows = []
    for _ in range(n_rows):
        values = rng.uniform(0.1, 10.0, size=11).round(3)
        rows.append(";".join([*(f"{v:g}" for v in values), str(int(rng.integers(3, 9)))]))
    return "\n".join([header, *rows]) + "\n"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        server.requests.append(self.path)
        failures = server.failures_left.get(self.path, 0)
        if failures:
            server.failures_left[self.path] = failures - 1
            self.send_error(503, "try again")
            return
        body = server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404, "not here")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def file_server(
    files: dict[str, bytes], failures: dict[str, int] | None = None
) -> Iterator[ThreadingHTTPServer]:
    """Serve `files` by name on 127.0.0.1; `failures[path]` 503s come first for that path."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files = files
    server.failures_left = dict(failures or {})
    server.requests = []
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}/wine-quality/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def chromium(playwright):
    """Headless Chromium for the browser tests ($CHROMIUM, else Debian's: `ops/chromium.sh`),
    with SCREENSHOTS made for their pictures."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return playwright.chromium.launch(
        executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


def partial_files(folder: Path) -> list[str]:
    """Files under `folder` with the temporary names of the atomic writers and of `latest`."""
    return [str(p) for p in folder.rglob("*") if ".tmp" in p.name]


def selection_of(
    readings: Mapping[str, tuple[float, float]],
    by_rate: list[dict] | None = None,
    chosen_lr: float = 0.002,
    **changes,
) -> Selection:
    """A selection whose curve readings are `readings` (method -> (rate, spread); a NaN rate:
    no reading), confirmed with the candidates' summaries `by_rate` when given."""
    aggregates = {
        name: Aggregate(name, lr, spread, [] if np.isnan(lr) else [lr])
        for name, (lr, spread) in readings.items()
    }
    confirmation = None
    if by_rate is not None:
        table = pd.DataFrame(by_rate)
        final = Fit([], [chosen_lr, 0.001], [0, 0], pd.DataFrame(), [1, 1])
        rungs = [Rung(12, dict(zip(table["lr"], table["median"], strict=True)), [chosen_lr], 0)]
        confirmation = Confirmation(
            table, table, rungs, chosen_lr, 0.001, 0, "best median", "a test", final
        )
    method = next(iter(readings))
    fields = {
        "chosen_lr": chosen_lr,
        "reason": f"lowest median val_loss at lr {chosen_lr:g}",
        "method": method,
        "center": aggregates[method].lr,
        "aggregates": aggregates,
        "warnings": (),
        "settings": SelectionSettings(),
        "protocol": TrainingSettings().protocol,
        "confirmation": confirmation,
    }
    return Selection(**{**fields, **changes})


def evaluation_of(test: Comparison, task: str = "binary", **changes) -> Evaluation:
    """An evaluation around the test-set comparison `test` (also as its rows without twins),
    two seeds, and a reference model that scores as the baseline unless `changes` give one."""
    scores = test.baseline.final
    reference = ReferenceScores("HistGradientBoosting", "defaults", "train", 1, 0.1, scores, {})
    fields = {
        "task": task,
        "classes": None,
        "chosen_lr": 0.002,
        "baseline_lr": 0.001,
        "seeds": [0, 1],
        "refit": True,
        "no_refit_because": None,
        "epochs": {"chosen": [5, 6], "baseline": [7, 8]},
        "test": test,
        "test_without_twins": test,
        "reference": reference,
        "predictions": pd.DataFrame(),
    }
    return Evaluation(**{**fields, **changes})
