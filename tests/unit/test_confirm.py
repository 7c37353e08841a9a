"""The confirmation's race on a fake trainer: rungs, halving, extensions, the baseline and the
tie rules."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lrfinder.engine.replicas import ReplicaState
from lrfinder.lr.confirm import candidate_rates, confirm, rung_epochs
from lrfinder.model.heads import BINARY, head_for
from lrfinder.names import loss_name
from lrfinder.params import SelectionSettings, TrainingProtocol
from lrfinder.training.fit import Fit, Paused

SEEDS = [0, 1, 2]
PROTOCOL = TrainingProtocol(max_epochs=100, patience=10, baseline_lr=None)
BASELINE = 2e-3
NO_STATE = ReplicaState([], [], [])


class FakeTrainer:
    """Replica (rate, seed) has validation loss `curve(rate, epoch)` (+0.001 x seed) at each
    epoch; it stops early at epoch `stops_at.get(rate)` when given. Records each call."""

    def __init__(self, curve, stops_at: dict[float, int] | None = None):
        self.curve = curve
        self.stops_at = stops_at or {}
        self.calls: list[dict] = []

    def __call__(self, rates, seeds, resume, until) -> Fit:
        self.calls.append({"rates": list(rates), "resume": list(resume), "until": until})
        paused, rows = [], []
        for k, (rate, seed, start) in enumerate(zip(rates, seeds, resume, strict=True)):
            assert start is None or not start.stopped
            first = 0 if start is None else start.epochs_run
            last = min(until, self.stops_at.get(rate, until))
            losses = [self.curve(rate, e) + 0.001 * seed for e in range(last)]
            best = int(np.argmin(losses))
            rows += [
                {"replica": k, "lr": rate, "seed": seed, "epoch": e, "val_loss": losses[e]}
                for e in range(first, last)
            ]
            stopped = last < until
            paused.append(Paused(NO_STATE, last, NO_STATE, best, losses[best], 0.5, 0, stopped))
        assert all(isinstance(p.stopped, bool) for p in paused)
        history = pd.DataFrame(rows)
        return Fit([NO_STATE] * len(rates), list(rates), list(seeds), history, [1], paused)


def bowl(target: float, speed=lambda rate: 1.0):
    """A loss that is a parabola in log10(rate) with its optimum at `target`, approached as
    epochs pass at a rate-dependent `speed`."""
    return lambda rate, epoch: (
        0.4 + (np.log10(rate) - np.log10(target)) ** 2 + 0.5 / (1 + speed(rate) * epoch)
    )


def race(center: float, trainer: FakeTrainer, settings: SelectionSettings | None = None):
    settings = settings or SelectionSettings()
    return confirm(center, SEEDS, settings, PROTOCOL, BASELINE, trainer)


def test_rungs_double_from_the_first_and_end_at_the_epoch_budget():
    assert rung_epochs(12, 100) == [12, 24, 48, 100]
    assert rung_epochs(12, 20) == [12, 20]
    assert rung_epochs(12, 12) == [12] and rung_epochs(12, 5) == [5]


def test_candidates_span_a_tenth_to_three_times_the_center():
    rates = candidate_rates(1e-2, SelectionSettings())
    assert len(rates) == 7
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(3e-2)


def test_the_race_halves_the_candidates_resumes_the_survivors_and_keeps_the_baseline():
    rates = candidate_rates(1e-2, SelectionSettings())
    trainer = FakeTrainer(bowl(rates[4]))
    result = race(1e-2, trainer)
    assert [call["until"] for call in trainer.calls] == [12, 24, 48, 100]
    assert [len(rung.kept) for rung in result.rungs] == [4, 2, 2, 2]
    for call in trainer.calls[1:]:
        assert BASELINE in call["rates"]
        assert all(start is not None and start.epochs_run > 0 for start in call["resume"])
    assert len(trainer.calls[0]["rates"]) == 8 * len(SEEDS)  # 7 candidates and the baseline
    assert result.chosen_lr == pytest.approx(rates[4]) and result.extensions == 0
    assert result.final.rates == [result.chosen_lr] * 3 + [BASELINE] * 3
    assert result.final.seeds == SEEDS * 2
    cut = result.by_rate.set_index("lr")
    assert cut.loc[rates[0], "rung"] == 0 and cut.loc[rates[4], "rung"] == 3
    assert cut.loc[rates[0], "epochs"] == 12 * 3 and cut.loc[rates[4], "epochs"] == 100 * 3
    assert "best median" in result.reason and "12, 24, 48, 100 epochs" in result.reason


def test_a_slow_rate_that_is_behind_at_the_first_rung_but_survives_wins_at_full_length():
    rates = candidate_rates(1e-2, SelectionSettings())
    slow = rates[3]
    speed = lambda rate: 0.3 if rate == slow else 1.0  # noqa: E731
    trainer = FakeTrainer(bowl(slow, speed))
    result = race(1e-2, trainer)
    first = result.rungs[0].medians
    assert sorted(first, key=first.get).index(slow) > 0  # not ahead after 12 epochs
    assert result.chosen_lr == pytest.approx(slow)


def test_an_optimum_at_an_edge_extends_the_candidates_beyond_it_at_the_first_rung():
    trainer = FakeTrainer(bowl(0.5))
    result = race(1e-2, trainer)
    assert result.extensions == 2
    extensions = trainer.calls[1:3]
    assert all(call["until"] == 12 and len(call["rates"]) == 2 * len(SEEDS) for call in extensions)
    assert min(extensions[0]["rates"]) > 3e-2
    assert len(result.by_rate) == 7 + 4 + 1
    assert result.chosen_lr == result.by_rate["lr"].max()
    assert "the winner is at the edge" in result.reason


def test_the_baseline_wins_when_its_median_is_the_best_at_full_length():
    trainer = FakeTrainer(bowl(BASELINE))
    result = race(1e-1, trainer, SelectionSettings(confirm_extensions=0))
    assert result.chosen_lr == BASELINE
    assert result.reason.startswith("the baseline rate won the race")
    assert result.final.rates == [BASELINE] * 6


def test_replicas_that_stopped_early_are_not_trained_again():
    rates = candidate_rates(1e-2, SelectionSettings())
    trainer = FakeTrainer(bowl(rates[4]), stops_at={rates[4]: 30})
    result = race(1e-2, trainer)
    # It stops at epoch 30, in the rung to 48; the rung to 100 trains only the others.
    (last,) = [call["rates"] for call in trainer.calls if call["until"] == 100]
    assert rates[4] not in last and BASELINE in last
    assert result.chosen_lr == pytest.approx(rates[4])
    assert result.table[result.table["lr"] == rates[4]]["epochs_run"].tolist() == [30] * 3


def flat_top(medians: dict[float, float]):
    """A loss that is `medians[rate]` at every epoch, and 1.0 for rates not named."""
    return lambda rate, epoch: next(
        (v for r, v in medians.items() if np.isclose(r, rate, rtol=1e-9)), 1.0
    )


@pytest.mark.parametrize(
    ("rule", "pick", "decided"),
    [("lowest", 3, "tie rule 'lowest'"), ("highest", 5, "tie rule 'highest'"), ("best", 4, "best")],
)
def test_the_tie_rule_picks_among_the_contenders_within_the_tolerance(rule, pick, decided):
    rates = candidate_rates(1e-2, SelectionSettings())
    tied = {rates[3]: 0.4815, rates[4]: 0.4800, rates[5]: 0.4816, rates[6]: 0.49}
    settings = SelectionSettings(tie_rule=rule, first_rung_epochs=50)  # rungs 50, 100: 7 -> 4
    result = race(1e-2, FakeTrainer(flat_top(tied)), settings)
    assert result.chosen_lr == pytest.approx(rates[pick])
    assert decided in result.decided_by
    strict = settings.model_copy(update={"confirm_tolerance": 0.0})
    exact = race(1e-2, FakeTrainer(flat_top(tied)), strict)
    assert exact.chosen_lr == pytest.approx(rates[4]) and exact.decided_by == "best median"


def test_accuracy_metric_prefers_the_highest_median():
    rates = candidate_rates(1e-2, SelectionSettings())

    class Accuracy(FakeTrainer):
        """The loss is lowest at rates[4]; the accuracy at its best epoch peaks at rates[2]."""

        def __call__(self, rates_, seeds, resume, until):
            fit = super().__call__(rates_, seeds, resume, until)
            paused = [
                replace(p, best_accuracy=0.9 - (np.log10(rate) - np.log10(rates[2])) ** 2)
                for rate, p in zip(rates_, fit.paused, strict=True)
            ]
            return replace(fit, paused=paused)

    by_accuracy = race(
        1e-2, Accuracy(bowl(rates[4])), SelectionSettings(confirm_metric="val_accuracy")
    )
    by_loss = race(1e-2, Accuracy(bowl(rates[4])))
    assert by_accuracy.chosen_lr == pytest.approx(rates[2])
    assert by_loss.chosen_lr == pytest.approx(rates[4])


def test_heads_read_predictions_from_the_models_outputs():
    outputs = np.array([[[0.2], [0.9], [0.4]]])
    np.testing.assert_array_equal(BINARY.predict(outputs), [[0.2, 0.9, 0.4]])
    probabilities = np.array([[[0.1, 0.7, 0.2]]])
    np.testing.assert_array_equal(head_for("multiclass", 3).predict(probabilities), probabilities)
    assert head_for("multiclass", 3).default_loss == "sparse_categorical_crossentropy"
    assert loss_name("mse") in head_for("regression").losses
