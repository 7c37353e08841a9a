"""This checkout's engine against another checkout's (for example the commit before a change, as
a git worktree), in one process run: `bench.throughput` of each, interleaved round by round so
that both see the same machine load, on each backend; medians over the rounds and their ratios.

Each round runs, in order: the other checkout and this one on JAX (engine K = 1, 8, 32, 64, the
default range test with 8 replicas, compilation included, and Keras fit), this one on JAX again
with an empty compilation cache (the range test as a first run on a machine sees it), then both
on TensorFlow (K = 8, the range test and Keras fit).

Usage: git worktree add /tmp/before <commit>
       python -m bench.ab --against /tmp/before [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT

RUNS = {
    "jax": ["--backend", "jax", "--ks", "1", "8", "32", "64", "--range-test", "8"],
    "jax, empty compile cache": ["--backend", "jax", "--ks", "8", "--range-test", "8", "--no-fit"],
    "tensorflow": ["--backend", "tensorflow", "--ks", "8", "--range-test", "8"],
}
PLAN = [
    ("before", "jax"),
    ("now", "jax"),
    ("now", "jax, empty compile cache"),
    ("before", "tensorflow"),
    ("now", "tensorflow"),
]


def throughput(checkout: Path, run: str) -> dict:
    backend = RUNS[run][1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(checkout)}
        if "empty" in run:
            env["LRFINDER_COMPILE_CACHE"] = str(Path(tmp) / "xla")
        command = [sys.executable, "-m", "bench.throughput", *RUNS[run], "--json", str(out)]
        subprocess.run(command, cwd=checkout, env=env, check=True)
        return json.loads(out.read_text())


def figures(result: dict) -> dict[str, float]:
    found = {f"engine K={k}": rate for k, rate in result["engine"].items()}
    found |= {f"range test {n}, s": r["seconds"] for n, r in result["range_test"].items()}
    if "keras_fit" in result:
        found["Keras fit, steps/s"] = result["keras_fit"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    checkouts = {"before": args.against.resolve(), "now": ROOT}
    samples: dict[tuple[str, str], list[dict]] = {}
    for round_ in range(args.rounds):
        for who, run in PLAN:
            print(f"round {round_ + 1}: {who}, {run}", flush=True)
            samples.setdefault((who, run), []).append(figures(throughput(checkouts[who], run)))
    medians = {
        f"{who}, {run}": {
            name: statistics.median(sample[name] for sample in runs) for name in runs[0]
        }
        for (who, run), runs in samples.items()
    }
    if args.json:
        args.json.write_text(
            json.dumps(
                {"samples": {f"{w}, {r}": s for (w, r), s in samples.items()}, "medians": medians},
                indent=2,
            )
        )
    print(f"\nmedians of {args.rounds} rounds")
    for name, values in medians.items():
        print(f"{name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in values.items()))
    for run in RUNS:
        before, now = medians.get(f"before, {run}"), medians.get(f"now, {run}")
        if before and now:
            ratios = {k: now[k] / before[k] for k in now if k in before}
            print(f"now / before, {run}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
