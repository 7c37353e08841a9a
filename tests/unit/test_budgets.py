"""Work that does not grow with the rows: epochs capped in steps, validation checks on a fixed
sample, and training that stops when asked."""

import threading

import numpy as np
import pandas as pd
import pytest

from lrfinder.data.splitting import check_sample
from lrfinder.engine import interrupt
from lrfinder.engine.replicas import CHUNK_STEPS, Replicas
from lrfinder.training.fit import fit_replicas
from runtime.progress import progress_line
from tests.helpers import recipe, tiny_classification


def test_an_epoch_is_a_pass_or_max_epoch_steps_whichever_is_shorter():
    assert recipe(4, batch_size=16).steps_per_epoch(100) == 7
    assert recipe(4, batch_size=16, max_epoch_steps=3).steps_per_epoch(100) == 3
    assert recipe(4, batch_size=16, max_epoch_steps=50).steps_per_epoch(100) == 7


def test_capped_epochs_continue_through_the_shuffled_rows_and_count_for_patience():
    x, y = tiny_classification(3, n_rows=100)
    capped = recipe(4, batch_size=16, max_epoch_steps=3)
    empty = np.zeros((0, 4), "float32")
    seen: list[tuple[int, int]] = []
    fit = fit_replicas(
        x, y, empty, np.zeros(0, "float32"), [1e-2], [5], capped, max_epochs=4, patience=1,
        on_progress=lambda done, total, active: seen.append((done, total)),
    )  # fmt: skip
    assert fit.epochs == [4] and len(fit.history) == 4
    assert seen == [(3, 12), (6, 12), (9, 12), (12, 12)]  # replica-steps
    alone = Replicas(capped, [5])
    alone.train(x, y, np.full(12, 1e-2))  # 12 steps straight: one pass and 5 steps of the next
    for got, want in zip(fit.states[0].variables, alone.replica_state(0).variables, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_early_stopping_waits_patience_capped_epochs():
    x, y = tiny_classification(3, n_rows=200)
    x_val, y_val = tiny_classification(4, n_rows=60)
    capped = recipe(4, batch_size=16, max_epoch_steps=2)
    fit = fit_replicas(x, y, x_val, y_val, [0.3], [1], capped, max_epochs=60, patience=2)
    epochs = len(fit.history)
    assert epochs < 60, "a rate this high stops early"
    assert epochs == fit.epochs[0] + 2


def test_the_check_sample_keeps_class_shares_order_and_seed():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"f": rng.normal(size=10_000), "y": (rng.random(10_000) < 0.05) * 1})
    sample = check_sample(frame, "y", "binary", 1_000, seed=3)
    assert len(sample) == 1_000
    assert sample["y"].mean() == pytest.approx(frame["y"].mean(), abs=0.001)
    assert sample["f"].isin(frame["f"]).all()
    order = frame.reset_index().set_index("f").loc[sample["f"], "index"].to_numpy()
    assert (np.diff(order) > 0).all(), "rows keep their order"
    pd.testing.assert_frame_equal(sample, check_sample(frame, "y", "binary", 1_000, seed=3))
    assert not sample.equals(check_sample(frame, "y", "binary", 1_000, seed=4))
    assert check_sample(frame, "y", "binary", 10_000, seed=3) is None


@pytest.mark.parametrize(
    ("task", "rows", "size"),
    [("binary", 2048, 2049), ("regression", 2048, 2050), ("binary", 1, 500)],
)
def test_a_check_sample_of_any_size_short_of_the_split(task, rows, size):
    rng = np.random.default_rng(1)
    labels = rng.normal(size=size) if task == "regression" else (rng.random(size) < 0.3) * 1
    frame = pd.DataFrame({"f": np.arange(size, dtype=float), "y": labels})
    assert len(check_sample(frame, "y", task, rows, seed=0)) == rows


def test_a_regression_check_sample_covers_the_targets_range():
    frame = pd.DataFrame({"f": np.arange(5_000.0), "y": np.arange(5_000.0) ** 2})
    sample = check_sample(frame, "y", "regression", 500, seed=0)
    per_decile = np.histogram(sample["f"], bins=10, range=(0, 5_000))[0]
    assert per_decile.min() >= 45 and per_decile.max() <= 55


def test_training_checks_score_the_sample_and_the_report_says_how_many_rows(tmp_path):
    from lrfinder.data.cleaning import CleanData
    from lrfinder.data.splitting import split_and_scale
    from lrfinder.params import SplitSettings

    x, y = tiny_classification(0, n_rows=1_000)
    frame = pd.DataFrame(x, columns=list("abcd")).assign(label=y.astype(int))
    clean = CleanData(frame, list("abcd"), "label", {})
    whole = split_and_scale(clean, SplitSettings())
    assert whole.val_check is None
    np.testing.assert_array_equal(whole.arrays("val_check")[0], whole.arrays("val")[0])
    sampled = split_and_scale(clean, SplitSettings(val_check_rows=50))
    assert len(sampled.arrays("val_check")[0]) == 50 and len(sampled.val) == 160
    assert sampled.report["val_check_rows"] == 50
    assert sampled.fingerprint != whole.fingerprint


def test_a_stop_request_ends_training_in_another_thread_at_the_next_chunk():
    x, y = tiny_classification(1, n_rows=400)
    engine = Replicas(recipe(4), [0, 1])
    chunks: list[int] = []
    failure: list[BaseException] = []

    def on_progress(done: int, total: int, active: int) -> None:
        chunks.append(done)
        interrupt.request_stop()

    def train() -> None:
        try:
            engine.train(x, y, np.full(10 * CHUNK_STEPS, 1e-3), on_progress=on_progress)
        except BaseException as error:  # the thread hands it to the test
            failure.append(error)

    worker = threading.Thread(target=train)
    try:
        worker.start()
        worker.join(timeout=60)
    finally:
        interrupt.clear_stop()
    assert not worker.is_alive()
    assert chunks == [CHUNK_STEPS]
    assert len(failure) == 1 and isinstance(failure[0], interrupt.Interrupted)
    engine.train(x, y, np.full(3, 1e-3))  # cleared: trains again


def test_the_progress_line_states_done_planned_and_time_left():
    line = progress_line("confirmation, fit group 1/1", 50, 200, 3, seconds=10.0)
    assert line == (
        "confirmation, fit group 1/1: 50/200 steps, 3 replicas active, about 30 s left at this pace"
    )
    assert "not known yet" in progress_line("final training", 0, 200, 8, seconds=1.0)


def test_the_device_table_is_made_once_per_fit(monkeypatch):
    import lrfinder.engine.replicas as replicas

    x, y = tiny_classification(2, n_rows=100)
    x_val, y_val = tiny_classification(5, n_rows=40)
    padded: list[int] = []
    original = replicas._pad_rows
    monkeypatch.setattr(replicas, "_pad_rows", lambda a: padded.append(len(a)) or original(a))
    fit = fit_replicas(x, y, x_val, y_val, [1e-3, 1e-2], [0, 1], recipe(4), 5, patience=5)
    assert len(fit.history) == 10
    assert padded == [100, 100], "x and y once, not once per epoch"


def test_progress_artifacts_move_every_few_seconds_and_the_log_says_what_is_left(monkeypatch):
    import runtime.progress as progress

    clock = [0.0]
    updates: list[float] = []
    lines: list[str] = []
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(progress, "update_progress_artifact", lambda _id, p: updates.append(p))

    class Log:
        def info(self, message: str, *args: object) -> None:
            lines.append(message % args)

    monkeypatch.setattr(progress, "task_logger", Log)
    bar = progress.StepProgress("final training", key="k", bar=False)
    bar.artifact_id = "artifact"
    for step in range(1, 31):  # 1 % per second: the 5 % rule alone would wait 5 s
        clock[0] = float(step)
        bar.update(step * 10, 1000, 4)
    assert updates[:3] == [2.0, 4.0, 6.0]
    assert lines[0] == (
        "final training: 100/1,000 steps, 4 replicas active, about 90 s left at this pace"
    )
    assert len(lines) == 3  # at 10, 20 and 30 s


def test_no_refit_when_epochs_are_not_whole_passes_and_the_fix_is_named():
    from lrfinder.training.final import why_no_refit

    assert why_no_refit(100, 25, recipe(4, batch_size=16)) is None
    assert why_no_refit(100, 25, recipe(4, batch_size=16, max_epoch_steps=8)) is None
    # the fit's epochs (100 rows: 7 steps) are whole passes, the refit's (125 rows: 8) would not be
    capped = why_no_refit(100, 25, recipe(4, batch_size=16, max_epoch_steps=7))
    assert "capped at 7 steps" in capped and "with 25 more rows" in capped
    assert "max_epoch_steps (--max-epoch-steps) to 8 or more" in capped
    assert why_no_refit(100, 0, recipe(4)) == "there is no validation split"
