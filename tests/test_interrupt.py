"""Stopping a run stops it: Ctrl-C or SIGTERM on `make run` in the middle of the confirmation or
the final training (a cancel of a deployment run is in `test_serve.py`). The process (and
everything it started) ends within 10 s, no half-written file is left, and a new run reuses the
stages that finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import EARLIER, ROOT, SMALL_SWEEP, WIDE, cli_flags, partial_files

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
STOP_LIMIT_S = 10
# Long stages (about a minute on 2 cores): the progress log line, every 10 s, shows the stage
# under way.
LONG_CONFIRMATION = WIDE | {"first_rung_epochs": 400, "max_epochs": 400, "patience": 400}
# Without a race, the final training trains the chosen rate and the baseline itself.
LONG_TRAINING = WIDE | {"confirm": False, "max_epochs": 400, "patience": 400}


class MakeRun:
    """`python -m flows` as `make run` starts it, with its own temporary Prefect server (no API
    URL) and Prefect home, its console read line by line."""

    def __init__(self, tmp: Path, settings: dict):
        env = {
            **os.environ,
            "PREFECT_HOME": str(tmp / "prefect"),
            "PREFECT_LOGGING_LEVEL": "INFO",
            "LRFINDER_ARTIFACTS_DIR": str(tmp / "artifacts"),
        }
        env.pop("PREFECT_API_URL", None)
        self.artifacts = tmp / "artifacts"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows", *cli_flags(settings)], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip

    def wait_for(self, text: str) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"the run ended before {text!r}:\n{''.join(self.lines[-40:])}")

    def stop(self, how: signal.Signals) -> tuple[int, float]:
        """Send `how` as a terminal (Ctrl-C: the process group) or a supervisor (SIGTERM: the
        process) does; returns the exit status and the seconds until every process is gone."""
        tree = [self.process, *psutil.Process(self.process.pid).children(recursive=True)]
        started = time.monotonic()
        if how == signal.SIGINT:
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(how)
        _, alive = psutil.wait_procs(tree, timeout=STOP_LIMIT_S + 20)
        seconds = time.monotonic() - started
        for process in alive:
            process.kill()
        self.lines += self.process.stdout.readlines()
        return self.process.wait(), seconds

    def finish(self) -> int:
        self.lines += self.process.stdout.readlines()
        return self.process.wait(timeout=600)


@pytest.mark.parametrize(
    ("how", "settings", "stage"),
    [
        (signal.SIGINT, LONG_CONFIRMATION, "confirmation (replica-steps)"),
        (signal.SIGTERM, LONG_TRAINING, "final training (replica-steps)"),
    ],
    ids=["ctrl-c-in-confirmation", "sigterm-in-final-training"],
)
def test_make_run_stops_within_seconds_mid_stage_and_a_new_run_reuses_finished_stages(
    tmp_path, wine_sample, how, settings, stage
):
    base = SMALL_SWEEP | {"data": str(wine_sample), "seed": 31}
    run = MakeRun(tmp_path, base | settings)
    run.wait_for(stage)
    status, seconds = run.stop(how)
    console = "".join(run.lines)
    assert seconds <= STOP_LIMIT_S, console[-3000:]
    assert status == 128 + how, console[-3000:]
    assert console.rstrip().splitlines()[-1].startswith("stopped by "), console[-3000:]
    assert "Finished in state Crashed" in console
    assert not (run.artifacts / "latest").exists()
    assert partial_files(run.artifacts) == []
    (folder,) = [p for p in run.artifacts.iterdir() if p.is_dir()]
    assert "model.keras" not in {p.name for p in folder.iterdir()}
    if settings is LONG_TRAINING:
        again = MakeRun(tmp_path, base | settings | {"max_epochs": 2, "patience": 1})
        assert again.finish() == 0, "".join(again.lines)[-3000:]
        console = "".join(again.lines)
        for name in EARLIER:
            assert f"Task run '{name}-" in console
            line = next(x for x in again.lines if f"Task run '{name}-" in x and "Finished" in x)
            assert "Cached" in line, line
        assert (run.artifacts / "latest" / "model.keras").is_file()
