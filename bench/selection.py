"""Trust, measured: how often each way of picking a learning rate lands where an exhaustive grid
says the good rates are, per data set, in one process run.

Per data set (bench.datasets; each split as the flow splits it with default settings):

- ground truth (bench.truth): a grid of log-spaced rates from 1e-5 to 1 (13 by default), 8 seeds
  each, trained as the final training trains (up to 100 epochs, patience 10, best weights
  restored) and judged on held-out rows (test rows without a twin in train or validation, which
  no method sees); the median held-out loss per rate, linear in log10(rate) between grid rates,
  is the curve a rate is judged on. A rate's regret is its loss on that curve over the grid's
  best, minus 1; it is in the 1 % (2.5 %) region when its regret is at most 1 % (2.5 %) or it is
  inside the best rate's noise band (bootstrap over seeds). A data set is informative when its
  1 % region spans at most 2 decades of rate.
- the methods, each repeated R times (default 5) with different seeds:
  (a) ours: the default selection (8-replica range test, valley, the race under the final
      training's protocol, default tie rule), and, from the same race, the winner under each
      other tie rule (a:best, a:highest, ...);
  (b) single-seed valley: one replica's valley reading, no confirmation (what a fastai or
      Lightning user gets); every replica of (a)'s range tests is one such case (8 per repeat);
  (c) the tutorial: the per-epoch sweep (1e-3 * 10**(epoch/30), 100 epochs), argmin of the
      epoch losses;
  (d) the median valley reading of (a)'s 8 replicas (the confirmation's centre), unconfirmed.

A case's cost is in replica-epochs (range-test steps count as steps / steps per epoch) and in
engine seconds (replicas that share an engine share its time). Results (table.md, cases.csv,
truth.csv, regret.png) go to --out and the tables are printed: per data set and method, then
each method's hits over all sets and over the informative ones.

Usage: python -m bench.selection [--quick] [--cases NAME ...] [--repeats 5] [--grid-points 13]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd

from bench.common import ROOT, Timer
from bench.datasets import CASES
from bench.truth import (
    GRID_SEEDS,
    REGIONS,
    Truth,
    grid,
    held_out,
    train_rates,
    trivial_loss,
)
from lrfinder.data.splitting import SplitData
from lrfinder.engine.recipe import recipe_of
from lrfinder.lr.confirm import final_standings, winner
from lrfinder.lr.range_test import run_range_test
from lrfinder.lr.selection import select_rate
from lrfinder.model.heads import head_for
from lrfinder.params import RunSettings, SelectionSettings, TieRule

DEFAULT_RULE = SelectionSettings().tie_rule
OTHER_RULES = [rule for rule in get_args(TieRule) if rule != DEFAULT_RULE]
METHODS = {
    "a": f"ours (default selection: race, tie rule {DEFAULT_RULE})",
    "b": "single-seed valley",
    "c": "tutorial argmin (per-epoch sweep)",
    "d": "8-replica valley, no confirmation",
    **{f"a:{rule}": f"ours, the same race, tie rule {rule}" for rule in OTHER_RULES},
}
REPLICAS = 8
RANGE_SEED, TUTORIAL_SEED = 1000, 5000
QUICK_CASES = ["breast cancer", "digits >= 5", "sklearn wine class 0", "synthetic 20% noise"]


@dataclass(frozen=True)
class Pick:
    """One method's rate in one repeat (None: no reading) and what it cost."""

    method: str
    repeat: int
    lr: float | None
    replica_epochs: float
    seconds: float


def ours_and_valleys(split: SplitData, repeats: int) -> list[Pick]:
    """(a), (b) and (d): one range test of REPLICAS x `repeats` replicas (repeat r's replicas are
    seeds RANGE_SEED + REPLICAS * r ...), read and confirmed per repeat as the flow does."""
    settings = RunSettings()
    model = settings.model.model_copy(update={"n_seeds": REPLICAS * repeats, "seed": RANGE_SEED})
    head = head_for(split.task, len(split.classes))
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val_check")
    with Timer() as sweep:
        recipe = recipe_of(model, x.shape[1], head, y)
        curves = run_range_test(x, y, recipe, model.seeds, settings.range_test, x_val, y_val).table
    steps_per_epoch = recipe_of(model, x.shape[1], head, y).steps_per_epoch(len(x))
    sweep_epochs = settings.range_test.num_steps / steps_per_epoch
    per_replica = sweep.seconds / (REPLICAS * repeats)
    picks = []
    for r in range(repeats):
        table = curves[curves["replica"].isin(range(REPLICAS * r, REPLICAS * (r + 1)))]
        seeded = model.model_copy(update={"n_seeds": REPLICAS, "seed": RANGE_SEED + REPLICAS * r})
        with Timer() as confirming:
            selection = select_rate(
                table,
                x,
                y,
                x_val,
                y_val,
                recipe,
                seeded.seeds,
                settings.selection,
                settings.race_protocol,
            )
        read = selection.aggregates["valley"].per_replica
        for lr in [*read, *[None] * (REPLICAS - len(read))]:
            picks.append(Pick("b", r, lr, sweep_epochs, per_replica))
        centre = selection.center
        picks.append(Pick("d", r, centre, REPLICAS * sweep_epochs, REPLICAS * per_replica))
        race = selection.confirmation
        epochs = REPLICAS * sweep_epochs + float(race.table["epochs_run"].sum())
        seconds = REPLICAS * per_replica + confirming.seconds
        picks.append(Pick("a", r, selection.chosen_lr, epochs, seconds))
        final, chosen = final_standings(race.rungs), settings.selection
        for rule in OTHER_RULES:
            lr = winner(final, chosen.confirm_metric, chosen.confirm_tolerance, rule)
            picks.append(Pick(f"a:{rule}", r, lr, epochs, seconds))
    return picks


def tutorial(split: SplitData, repeats: int) -> list[Pick]:
    """(c): the tutorial preset's per-epoch sweep, `repeats` replicas in one engine, each read as
    the tutorial reads its plot: the rate of the lowest epoch loss."""
    settings = RunSettings(preset="tutorial").resolved()
    model = settings.model.model_copy(update={"n_seeds": repeats, "seed": TUTORIAL_SEED})
    x, y = split.arrays("train")
    head = head_for(split.task, len(split.classes))
    with Timer() as sweep:
        recipe = recipe_of(model, x.shape[1], head, y)
        curves = run_range_test(x, y, recipe, model.seeds, settings.range_test).table
    picks = []
    for r, (_, curve) in enumerate(curves.groupby("replica")):
        finite = curve[np.isfinite(curve["loss"])]
        lr = float(finite["lr"].iloc[int(np.argmin(finite["loss"]))]) if len(finite) else None
        picks.append(Pick("c", r, lr, float(len(curve)), sweep.seconds / repeats))
    return picks


def judge(picks: list[Pick], truth: Truth, case: str) -> pd.DataFrame:
    """One row per pick: its rate, regret, region membership, test metric and cost."""
    rows = []
    for pick in picks:
        regret = truth.regret(pick.lr)
        test = np.nan if pick.lr is None else truth.at(pick.lr, truth.test_metric)
        rows.append(
            {
                "case": case,
                "method": pick.method,
                "repeat": pick.repeat,
                "lr": pick.lr,
                "regret": regret,
                **{f"in_{tol:.1%}": truth.contains(pick.lr, tol) for tol in REGIONS},
                "test_metric": test,
                "replica_epochs": pick.replica_epochs,
                "seconds": pick.seconds,
            }
        )
    return pd.DataFrame(rows)


def percent(value: float) -> str:
    return "inf" if not np.isfinite(value) else f"{value:.1%}"


def truth_table(truths: dict[str, Truth], held_out_rows: dict[str, int]) -> str:
    """The Markdown table of each data set's truth: best rate, noise band, regions, cost."""
    lines = [
        "| data set | held-out rows | best median held-out loss | noise band | 1 % region "
        "(decades) | 2.5 % region (decades) | informative | grid replica-epochs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case, truth in truths.items():
        regions = []
        for tol in REGIONS:
            low, high = truth.region(tol)
            regions.append(f"{low:.2g}-{high:.2g} ({truth.width(tol):.1f})")
        lines.append(
            f"| {case} | {held_out_rows[case]} | {truth.best:.4f} at {truth.best_lr:.2g} | "
            f"+{percent(truth.noise)} | {regions[0]} | {regions[1]} | "
            f"{'yes' if truth.informative else 'no'} | {truth.replica_epochs} |"
        )
    return "\n".join(lines)


def methods_table(cases: pd.DataFrame, tasks: dict[str, str]) -> str:
    """The Markdown table per data set and method: hits, regrets, test metric and cost."""
    lines = [
        "| data set | method | cases | in 1 % | in 2.5 % | median regret | worst regret | "
        "test metric | replica-epochs | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in dict.fromkeys(cases["case"]):
        metric = "RMSE" if tasks[case] == "regression" else "accuracy"
        for method, label in METHODS.items():
            rows = cases[(cases["case"] == case) & (cases["method"] == method)]
            n = len(rows)
            lines.append(
                f"| {case} | ({method}) {label} | {n} | "
                f"{rows['in_1.0%'].sum()}/{n} | {rows['in_2.5%'].sum()}/{n} | "
                f"{percent(rows['regret'].median())} | {percent(rows['regret'].max())} | "
                f"{metric} {rows['test_metric'].median():.4f} | "
                f"{rows['replica_epochs'].median():.0f} | {rows['seconds'].median():.1f} |"
            )
    return "\n".join(lines)


def hits(rows: pd.DataFrame) -> str:
    n = len(rows)
    if not n:
        return "- | -"
    one, two = rows["in_1.0%"].sum(), rows["in_2.5%"].sum()
    return f"{one}/{n} ({one / n:.0%}) | {two}/{n} ({two / n:.0%})"


def summary_table(cases: pd.DataFrame, truths: dict[str, Truth]) -> str:
    """Each method's hits over all data sets and over the informative ones."""
    informative = [case for case, truth in truths.items() if truth.informative]
    lines = [
        f"| method | all {len(truths)} sets: in 1 % | in 2.5 % | {len(informative)} "
        "informative sets: in 1 % | in 2.5 % |",
        "|---|---|---|---|---|",
    ]
    for method, label in METHODS.items():
        rows = cases[cases["method"] == method]
        lines.append(
            f"| ({method}) {label} | {hits(rows)} | {hits(rows[rows['case'].isin(informative)])} |"
        )
    return "\n".join(lines)


def regret_chart(cases: pd.DataFrame, truths: dict[str, Truth]):
    """Regret per method per data set: one dot per case (inf drawn at the top), and each data
    set's noise band where it is wider than a region's tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(cases["case"]))
    fig = Figure(figsize=(max(8, 1.6 * len(names)), 5), layout="constrained")
    ax = fig.add_subplot()
    finite = cases["regret"][np.isfinite(cases["regret"])]
    top = max(float(finite.max()) * 2 if len(finite) else 1.0, 0.1)
    rng = np.random.default_rng(0)
    for m, (method, label) in enumerate(METHODS.items()):
        xs, ys = [], []
        for i, name in enumerate(names):
            values = cases[(cases["case"] == name) & (cases["method"] == method)]["regret"]
            values = np.where(np.isfinite(values), values, top).clip(1e-5)
            offset = (m - (len(METHODS) - 1) / 2) * 0.8 / len(METHODS)
            xs += list(i + offset + rng.uniform(-0.03, 0.03, len(values)))
            ys += list(values)
        ax.scatter(xs, ys, s=14, alpha=0.7, label=f"({method}) {label}")
    for tol in REGIONS:
        ax.axhline(tol, color="grey", lw=0.8, ls="--")
    for i, name in enumerate(names):
        if truths[name].noise > REGIONS[0]:
            ax.hlines(min(truths[name].noise, top), i - 0.45, i + 0.45, color="black", lw=1.5)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("regret over the grid's best (log; top row: beyond the grid)")
    ax.set_title(
        "Chosen rate's regret per method and data set (dashed: 1 % and 2.5 %; black: the "
        "truth's noise band)"
    )
    ax.legend(fontsize=8)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CASES)}")
    parser.add_argument("--cases", nargs="+", choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grid-points", type=int, default=13)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "selection")
    args = parser.parse_args()
    names = args.cases or (QUICK_CASES if args.quick else list(CASES))
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    judged, truths, tasks, held_out_rows, grids = [], {}, {}, {}, []
    for name in names:
        split = CASES[name].prepare(args.out)
        with Timer() as grid_time:
            rows = train_rates(split, grid(args.grid_points), GRID_SEEDS)
        truth = truths[name] = Truth.from_table(rows, trivial_loss(split))
        tasks[name], held_out_rows[name] = split.task, len(held_out(split)[1])
        grids.append(rows.assign(case=name))
        with Timer() as methods_time:
            picks = ours_and_valleys(split, args.repeats) + tutorial(split, args.repeats)
        judged.append(judge(picks, truth, name))
        print(
            f"{name}: {len(split.train)} train rows; grid {grid_time.seconds:.0f} s "
            f"({truth.replica_epochs} replica-epochs), best {truth.best:.4f} at "
            f"{truth.best_lr:.3g}, noise +{percent(truth.noise)}; methods "
            f"{methods_time.seconds:.0f} s",
            flush=True,
        )
    cases = pd.concat(judged, ignore_index=True)
    cases.to_csv(args.out / "cases.csv", index=False)
    pd.concat(grids, ignore_index=True).to_csv(args.out / "truth.csv", index=False)
    regret_chart(cases, truths).savefig(args.out / "regret.png", dpi=110)
    tables = [
        truth_table(truths, held_out_rows),
        methods_table(cases, tasks),
        summary_table(cases, truths),
    ]
    text = "\n\n".join(tables)
    minutes = (time.perf_counter() - started) / 60
    header = (
        f"{time.strftime('%Y-%m-%d')}, {len(names)} data sets, {args.repeats} repeats, grid of "
        f"{args.grid_points} rates x {len(GRID_SEEDS)} seeds, {minutes:.1f} min"
    )
    (args.out / "table.md").write_text(f"{header}\n\n{text}\n")
    print(f"\n{header}\n\n{text}\n\nresults in {args.out}")


if __name__ == "__main__":
    main()
