"""The whole flow as the rows grow: the shared wine data as it is (about 6.5k rows), then
repeated 10, 100 and 200 times (about 65k, 650k and 1.3M rows) with small noise on the measured
columns so that the copies are not exact twins. Each size runs cold in its own process (its own
temporary Prefect home and artifacts folder); the table gives the wall time per stage (from the
task runs the Prefect API recorded), the whole flow's time and the peak resident memory.

Usage: python -m bench.scale [--copies 1 10 100 200] [the flags of make run, e.g. --n-seeds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import ROOT, prefect_sandbox, wine_csv

STAGES = ("load-clean", "split-scale", "sweep", "select", "train", "evaluate")
NOISE = 0.01  # of each column's standard deviation, on every copy but the first


def scaled_csv(copies: int, folder: Path) -> Path:
    """The wine file repeated `copies` times; copies after the first get Gaussian noise of
    NOISE standard deviations on every numeric column except `quality` (missing values stay)."""
    if copies == 1:
        return wine_csv()
    frame = pd.read_csv(wine_csv())
    measured = [c for c in frame.select_dtypes("number").columns if c != "quality"]
    rng = np.random.default_rng(copies)
    spread = frame[measured].std().to_numpy()
    parts = [frame]
    for _ in range(copies - 1):
        noisy = frame.copy()
        noisy[measured] += rng.normal(0.0, NOISE, (len(frame), len(measured))) * spread
        parts.append(noisy)
    path = folder / f"wine_x{copies}.csv"
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


def run_one(csv: Path, flags: list[str], out: Path) -> None:
    """In this process: the flow on `csv`, then its stage times and peak memory into `out`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.cli import parse_args
    from flows.lr_finder import lr_finder

    settings, _ = parse_args(["--data", str(csv), *flags])
    started = time.perf_counter()
    state = lr_finder(return_state=True, **dict(settings))
    seconds = time.perf_counter() - started
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    stages = {
        run.name.rsplit("-", 1)[0]: run.total_run_time.total_seconds()
        for run in runs
        if run.name.rsplit("-", 1)[0] in STAGES
    }
    run_dir = Path(state.result())
    rows = json.loads((run_dir / "data_report.json").read_text())["rows"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"state": state.name, "seconds": seconds, "stages": stages, "rows": rows}
    out.write_text(json.dumps({**result, "peak_mb": peak_mb}))


def run_size(csv: Path, flags: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="lrfinder-scale-") as tmp:
        env = {**os.environ, **prefect_sandbox(Path(tmp))}
        env.pop("PREFECT_API_URL", None)
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "bench.scale", "--one", str(csv), "--json", str(out)]
        subprocess.run([*command, *flags], env=env, cwd=ROOT, check=True)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 10, 100, 200])
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args, flags = parser.parse_known_args()
    if args.one:
        run_one(args.one, flags, args.json)
        return
    results = {}
    with tempfile.TemporaryDirectory(prefix="lrfinder-scale-data-") as folder:
        for copies in args.copies:
            csv = scaled_csv(copies, Path(folder))
            results[copies] = result = run_size(csv, flags)
            if copies > 1:
                csv.unlink()
            print(f"x{copies}: {result['state']} in {result['seconds']:.1f} s", flush=True)
    header = "| copies | train/val/test rows | " + " | ".join(STAGES) + " | whole flow | peak RSS |"
    lines = [header, "|" + "---|" * (len(STAGES) + 4)]
    for copies, r in results.items():
        rows = "/".join(f"{r['rows'][name]:,}" for name in ("train", "val", "test"))
        stages = " | ".join(f"{r['stages'].get(name, float('nan')):.1f} s" for name in STAGES)
        lines.append(
            f"| x{copies} | {rows} | {stages} | {r['seconds']:.1f} s | {r['peak_mb']:,.0f} MB |"
        )
    print("\n".join(lines))
    first = results[args.copies[0]]
    for copies in args.copies[1:]:
        r = results[copies]
        selection = sum(r["stages"][s] for s in ("sweep", "select"))
        base = sum(first["stages"][s] for s in ("sweep", "select"))
        print(
            f"x{copies} / x{args.copies[0]}: range test + selection {selection / base:.2f}x, "
            f"whole flow {r['seconds'] / first['seconds']:.2f}x"
        )


if __name__ == "__main__":
    main()
