"""The confirmation, a race: candidate rates around a curve reading, and the baseline rate, trained
with the run's seeds under the final training's protocol (its epoch budget, patience and best
weights restored). Successive halving keeps the cost bounded: at each rung but the last, the
better half of the candidates by median validation metric (best epoch so far) trains on, until
two are left; the baseline is never cut. The winner's replicas are the final models. Training is
passed in as `train`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from lrfinder.engine.replicas import ReplicaState
from lrfinder.params import SelectionSettings, TieRule, TrainingProtocol
from lrfinder.training.fit import Fit, Paused

Metric = Literal["val_loss", "val_accuracy"]
LOWER_IS_BETTER = {"val_loss": True, "val_accuracy": False}
RATE_BOUNDS = (1e-7, 10.0)
FINALISTS = 2
EMPTY_STATE = ReplicaState([], [], [])

# train(rates, seeds, resume, until): replica k at rates[k] from seeds[k] (or where resume[k]
# paused) up to epoch `until`, early-stopped; the Fit's `paused` says where each one ended.
Train = Callable[[list[float], list[int], list[Paused | None], int], Fit]


def candidate_rates(center: float, settings: SelectionSettings) -> np.ndarray:
    return np.geomspace(
        center * settings.confirm_low_factor,
        center * settings.confirm_high_factor,
        settings.confirm_candidates,
    )


def rung_epochs(first: int, max_epochs: int) -> list[int]:
    """Each rung's epoch budget: `first` (when below `max_epochs`), doubled at each rung while
    that stays within half of `max_epochs`, and `max_epochs` last: 12, 24, 48, 100."""
    rungs = []
    epochs = first
    while epochs < max_epochs and (not rungs or epochs * 2 <= max_epochs):
        rungs.append(epochs)
        epochs *= 2
    return [*rungs, max_epochs]


def summarize(table: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """Per rate: median and quartiles of `metric` across seeds, seeds and epochs run in all,
    sorted by rate."""
    grouped = table.groupby("lr")
    return pd.DataFrame(
        {
            "median": grouped[metric].median(),
            "q25": grouped[metric].quantile(0.25),
            "q75": grouped[metric].quantile(0.75),
            "seeds": grouped.size(),
            "epochs": grouped["epochs_run"].sum(),
        }
    ).reset_index()


def best_rate(by_rate: pd.DataFrame, metric: Metric) -> float:
    ordered = by_rate.sort_values("median", ascending=LOWER_IS_BETTER[metric], kind="stable")
    return float(ordered["lr"].iloc[0])


def tied_rates(by_rate: pd.DataFrame, metric: Metric, tolerance: float) -> list[float]:
    """The rates whose median is within `tolerance` (a fraction) of the best median."""
    best = by_rate.loc[by_rate["lr"] == best_rate(by_rate, metric), "median"].iloc[0]
    if LOWER_IS_BETTER[metric]:
        tied = by_rate["median"] <= best + tolerance * abs(best)
    else:
        tied = by_rate["median"] >= best - tolerance * abs(best)
    return sorted(float(rate) for rate in by_rate.loc[tied, "lr"])


def winner(by_rate: pd.DataFrame, metric: Metric, tolerance: float, rule: TieRule) -> float:
    """The best median's rate, or among the rates tied with it (`tied_rates`) the lowest or the
    highest, as `rule` says."""
    if rule == "best":
        return best_rate(by_rate, metric)
    tied = tied_rates(by_rate, metric, tolerance)
    return tied[0] if rule == "lowest" else tied[-1]


@dataclass(frozen=True)
class Rung:
    """One rung of the race: its epoch budget, each racer's median at its end, the candidates
    that train on (all of them at the last rung) and the epochs the rung trained."""

    epochs: int
    medians: dict[float, float]
    kept: list[float]
    epochs_trained: int


def final_standings(rungs: list[Rung]) -> pd.DataFrame:
    """The contenders after the last rung (the candidates left and the baseline), with their
    medians: what `winner` chooses from."""
    last = rungs[-1].medians
    return pd.DataFrame({"lr": list(last), "median": list(last.values())})


@dataclass(frozen=True)
class Confirmation:
    """The race: one row per rate and seed (`table`, best epoch so far when the rate left the
    race), its summary per rate (`by_rate`, with the last rung each rate trained in and that
    rung's epoch budget), the rungs, the
    winner and the baseline, and the final models: the winner's replicas, then the baseline's,
    best epochs restored (`final`)."""

    table: pd.DataFrame
    by_rate: pd.DataFrame
    rungs: list[Rung]
    chosen_lr: float
    baseline_lr: float
    extensions: int
    decided_by: str
    reason: str
    final: Fit


class _Race:
    """The race's running record: each (rate, seed)'s pause point and the training history."""

    def __init__(self, seeds: list[int], train: Train):
        self.seeds = seeds
        self.train = train
        self.paused: dict[tuple[float, int], Paused] = {}
        self.histories: list[pd.DataFrame] = []
        self.reached: dict[float, int] = {}

    def advance(self, rates: list[float], until: int, rung: int) -> int:
        """Train every replica of `rates` that early stopping has not ended up to epoch `until`;
        returns the epochs trained."""
        pairs = [
            (rate, seed)
            for rate in rates
            for seed in self.seeds
            if (rate, seed) not in self.paused or not self.paused[rate, seed].stopped
        ]
        for rate, _ in pairs:
            self.reached[rate] = rung
        if not pairs:
            return 0
        before = sum(self.paused[p].epochs_run for p in pairs if p in self.paused)
        fit = self.train(
            [rate for rate, _ in pairs],
            [seed for _, seed in pairs],
            [self.paused.get(pair) for pair in pairs],
            until,
        )
        self.paused.update(zip(pairs, fit.paused, strict=True))
        self.histories.append(fit.history)
        return sum(self.paused[p].epochs_run for p in pairs) - before

    def drop_states(self, rates: list[float]) -> None:
        """Forget the weights of `rates` (cut from the race), keeping their scores."""
        for pair, paused in self.paused.items():
            if pair[0] in rates:
                self.paused[pair] = replace(paused, state=EMPTY_STATE, best=EMPTY_STATE)

    def table(self, rates: list[float] | None = None) -> pd.DataFrame:
        rows = [
            {
                "lr": rate,
                "seed": seed,
                "best_epoch": p.best_epoch,
                "epochs_run": p.epochs_run,
                "val_loss": p.best_loss if np.isfinite(p.best_loss) else np.inf,
                "val_accuracy": p.best_accuracy,
                "stopped": p.stopped,
                "rung": self.reached[rate],
            }
            for (rate, seed), p in self.paused.items()
            if rates is None or rate in rates
        ]
        return pd.DataFrame(rows).sort_values(["lr", "seed"], ignore_index=True)

    def final_fit(self, rates: list[float]) -> Fit:
        """The replicas of `rates` (each with every seed, in order) as one Fit, best epochs
        restored; replica numbers follow that order."""
        pairs = [(rate, seed) for rate in rates for seed in self.seeds]
        history = pd.concat(self.histories, ignore_index=True)
        parts = []
        for k, (rate, seed) in enumerate(pairs):
            rows = history[(history["lr"] == rate) & (history["seed"] == seed)]
            parts.append(rows.assign(replica=k))
        merged = pd.concat(parts, ignore_index=True).sort_values(
            ["epoch", "replica"], kind="stable", ignore_index=True
        )
        paused = [self.paused[pair] for pair in pairs]
        return Fit(
            states=[p.best for p in paused],
            rates=[rate for rate, _ in pairs],
            seeds=[seed for _, seed in pairs],
            history=merged,
            epochs=[p.epochs for p in paused],
            paused=paused,
        )


def _extend(candidates: list[float], best: float, step: float) -> np.ndarray:
    """Two more rates beyond the edge where `best` sits (within 1e-7..10); none inside."""
    if best == candidates[0]:
        more = best * step ** -np.arange(1, 3)
    elif best == candidates[-1]:
        more = best * step ** np.arange(1, 3)
    else:
        return np.array([])
    return more[(more >= RATE_BOUNDS[0]) & (more <= RATE_BOUNDS[1])]


def confirm(
    center: float,
    seeds: list[int],
    settings: SelectionSettings,
    protocol: TrainingProtocol,
    baseline_lr: float,
    train: Train,
) -> Confirmation:
    """Race the candidates around `center` and the baseline under `protocol`.

    Rungs end at `rung_epochs(settings.first_rung_epochs, protocol.max_epochs)`. After the first
    rung, while the best candidate's median sits at an edge of the candidates, two more rates
    beyond that edge train to the first rung (at most `confirm_extensions` times). At the end of
    each rung but the last, the better half of the candidates (rounded up, at least two) by
    median `confirm_metric` trains on; the baseline always does. After the last rung the winner
    among the candidates left and the baseline is the best median, or, among rates within
    `confirm_tolerance` of it, the one `tie_rule` names."""
    metric = settings.confirm_metric
    race = _Race(seeds, train)
    rungs = rung_epochs(settings.first_rung_epochs, protocol.max_epochs)
    candidates = [float(rate) for rate in candidate_rates(center, settings)]
    step = candidates[1] / candidates[0]
    racers = sorted({*candidates, baseline_lr})
    trained = race.advance(racers, rungs[0], 0)
    extensions = 0
    while extensions < settings.confirm_extensions:
        best = best_rate(summarize(race.table(candidates), metric), metric)
        more = [float(r) for r in _extend(candidates, best, step) if r not in race.reached]
        if not more:
            break
        trained += race.advance(more, rungs[0], 0)
        candidates = sorted([*candidates, *more])
        extensions += 1
    record = []
    alive = candidates
    for index, until in enumerate(rungs):
        if index > 0:
            trained = race.advance(sorted({*alive, baseline_lr}), until, index)
        medians = summarize(race.table(sorted({*alive, baseline_lr})), metric)
        kept = alive
        if index < len(rungs) - 1 and len(alive) > FINALISTS:
            ranked = medians[medians["lr"].isin(alive)].sort_values(
                "median", ascending=LOWER_IS_BETTER[metric], kind="stable"
            )
            keep = max(FINALISTS, math.ceil(len(alive) / 2))
            kept = sorted(float(rate) for rate in ranked["lr"].iloc[:keep])
            race.drop_states([rate for rate in alive if rate not in kept and rate != baseline_lr])
        record.append(
            Rung(until, dict(zip(medians["lr"], medians["median"], strict=True)), kept, trained)
        )
        alive = kept
    final = final_standings(record)
    chosen = winner(final, metric, settings.confirm_tolerance, settings.tie_rule)
    tied = tied_rates(final, metric, settings.confirm_tolerance)
    decided_by = (
        f"tie rule {settings.tie_rule!r} among {len(tied)} rates within "
        f"{settings.confirm_tolerance:.1%} of the best median"
        if len(tied) > 1 and settings.tie_rule != "best"
        else "best median"
    )
    table = race.table()
    reached = pd.DataFrame({"lr": list(race.reached), "rung": list(race.reached.values())})
    reached["budget"] = [rungs[rung] for rung in reached["rung"]]
    by_rate = summarize(table, metric).merge(reached, on="lr")
    baseline_only = None if baseline_lr in candidates else baseline_lr
    reason = _reason(chosen, center, baseline_only, decided_by, by_rate, record, extensions, metric)
    return Confirmation(
        table=table,
        by_rate=by_rate,
        rungs=record,
        chosen_lr=chosen,
        baseline_lr=baseline_lr,
        extensions=extensions,
        decided_by=decided_by,
        reason=reason,
        final=race.final_fit([chosen, baseline_lr]),
    )


def _reason(
    chosen: float,
    center: float,
    baseline_lr: float | None,
    decided_by: str,
    by_rate: pd.DataFrame,
    rungs: list[Rung],
    extensions: int,
    metric: Metric,
) -> str:
    row = by_rate[by_rate["lr"] == chosen].iloc[0]
    candidates = by_rate[by_rate["lr"] != baseline_lr]
    counts = " -> ".join(str(len(rung.kept)) for rung in rungs[:-1])
    cost = ", ".join(f"{r['lr']:.3g}: {int(r['epochs'])}" for r in by_rate.to_dict("records"))
    what = "the baseline rate" if chosen == baseline_lr else f"lr {chosen:.3g}"
    edge = ""
    if chosen in (candidates["lr"].min(), candidates["lr"].max()):
        edge = "; the winner is at the edge of the candidates"
    baseline = f" and the baseline {baseline_lr:.3g}" if baseline_lr is not None else ""
    return (
        f"{what} won the race by {decided_by} ({metric} median {row['median']:.4f}, quartiles "
        f"{row['q25']:.4f}-{row['q75']:.4f}, {int(row['seeds'])} seeds) among {len(candidates)} "
        f"candidates from {candidates['lr'].min():.3g} to {candidates['lr'].max():.3g} around "
        f"{center:.3g} ({extensions} extension(s)){baseline}; rungs at "
        f"{', '.join(str(rung.epochs) for rung in rungs)} epochs kept {counts or 'all'} "
        f"candidates; epochs per rate, all seeds: {cost}{edge}"
    )
