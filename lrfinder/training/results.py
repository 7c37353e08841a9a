"""What evaluation returns, as types: each model's scores, the chosen rate against the baseline,
the reference model and the whole evaluation. `reporting.outputs.metrics_record` makes
`metrics.json` of them; a scores mapping is keyed by metric name, as scikit-learn's reports are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

Scores = dict[str, Any]  # one model's metrics on one set of rows: metric name -> value, "rows"
Intervals = dict[str, list[float] | None]  # metric name -> 95 % interval [low, high], or None


@dataclass(frozen=True)
class GroupScores:
    """One group's (chosen or baseline) models on a set of rows: each seed's model, their
    summary across seeds, the seed ensemble, the first seed's model alone and the final model
    (one of the two), with its 95 % intervals and, for binary with a tuned decision threshold,
    its scores at that threshold."""

    per_seed: list[Scores]
    across_seeds: dict[str, dict[str, float]]
    ensemble: Scores
    single: Scores
    final: Scores
    intervals: Intervals | None = None
    final_at_tuned_threshold: Scores | None = None


@dataclass(frozen=True)
class Comparison:
    """The chosen rate's models against the baseline's on one set of rows, paired by seed, and
    a trivial predictor's scores when given."""

    final_model: str
    chosen: GroupScores
    baseline: GroupScores
    difference: dict[str, dict[str, Any]]
    trivial: Scores | None = None

    @property
    def rows(self) -> int:
        return self.chosen.final["rows"]


@dataclass(frozen=True)
class NoRows:
    """What stands for a comparison on a set of rows that holds none: why."""

    reason: str
    rows: int = 0


@dataclass(frozen=True)
class ValidationScores:
    """The early-stopped models on the whole validation split, whose checks during training may
    have scored a sample of it (`checked_rows`)."""

    rows: int
    checked_rows: int
    comparison: Comparison


@dataclass(frozen=True)
class Thresholds:
    """Each group's binary decision threshold, tuned for `objective` (None: not tuned, 0.5)."""

    objective: str | None
    chosen: float
    baseline: float
    tuned_on: str


@dataclass(frozen=True)
class ReferenceScores:
    """The gradient-boosted reference model: what it is, what it was fit on and its test scores
    with their 95 % intervals, also on the test rows without a twin when asked for."""

    model: str
    settings: str
    fit_on: str
    rows: int
    seconds: float
    test: Scores
    intervals: Intervals
    test_without_twins: Scores | NoRows | None = None


@dataclass(frozen=True)
class Evaluation:
    """The final models on the test set (all rows, and those without a twin in the training
    data), the reference model, the validation split and the decision thresholds, with each
    test row's predictions (`predictions.parquet`)."""

    task: str
    classes: list[str] | None
    chosen_lr: float
    baseline_lr: float
    seeds: list[int]
    refit: bool
    no_refit_because: str | None
    epochs: dict[str, list[int]]
    test: Comparison
    test_without_twins: Comparison | NoRows
    reference: ReferenceScores
    predictions: pd.DataFrame
    validation: ValidationScores | None = None
    decision_threshold: Thresholds | None = None

    @property
    def trained_on(self) -> str:
        """The splits the final models learned from, in words: `train`, or `train + validation`
        when refit on both."""
        return trained_on_words(self.refit)


def trained_on_words(refit: bool) -> str:
    """`train`, or `train + validation` for final models refit on both."""
    return "train + validation" if refit else "train"
