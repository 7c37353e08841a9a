import numpy as np
import pytest

from lrfinder.model.network import to_keras
from lrfinder.training.fit import fit_replicas, refit_replicas
from tests.helpers import recipe

RECIPE = recipe(6, (32, 32), 16)


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(160, 6)).astype("float32")
    y = (x[:, 0] + 1.5 * rng.normal(size=160) > 0).astype("float32")
    return x[:100], y[:100], x[100:], y[100:]


def test_early_stopping_restores_each_replicas_best_weights(noisy):
    x, y, x_val, y_val = noisy
    fit = fit_replicas(x, y, x_val, y_val, [3e-2, 1e-4], [1, 1], RECIPE, max_epochs=25, patience=3)
    history = fit.history
    fast = history[history["replica"] == 0]
    assert len(fast) < 25, "an overfitting rate must stop early"
    best = fast.loc[fast["val_loss"].idxmin()]
    assert fit.epochs[0] == best["epoch"] + 1
    assert len(fast) == fit.epochs[0] + 3
    model = to_keras(RECIPE.network, [fit.states[0].variables])
    model.compile(loss=RECIPE.keras_loss())
    restored = model.evaluate(x_val, y_val, verbose=0)
    assert restored == pytest.approx(best["val_loss"], rel=1e-4)
    steps = (best["epoch"] + 1) * RECIPE.steps_per_epoch(len(x))
    assert fit.states[0].optimizer[0] == steps, "the optimizer's state too: its step count"


@pytest.mark.parametrize("slots", [1, 3])
def test_a_fit_paused_and_resumed_trains_as_one_fit_would(noisy, slots):
    """Each replica resumed (in its own slot, or queued for one slot) continues as one fit of
    the whole budget would: same epochs, same stop, and the best weights of its best epoch, also
    when that epoch came before the pause and nothing after it improved."""
    x, y, x_val, y_val = noisy
    rates, seeds = [1e-1, 3e-2, 1e-3], [1, 2, 3]
    budget = {"patience": 6, "recipe": RECIPE}
    whole = fit_replicas(x, y, x_val, y_val, rates, seeds, max_epochs=12, **budget)
    first = fit_replicas(x, y, x_val, y_val, rates, seeds, max_epochs=5, **budget)
    assert not any(paused.stopped for paused in first.paused)
    assert min(whole.epochs) <= 5 < max(whole.epochs), "a best epoch before the pause, one after"
    rest = fit_replicas(
        x, y, x_val, y_val, rates, seeds, max_epochs=12, slots=slots, resume=first.paused, **budget
    )
    for k in range(len(rates)):
        resumed = rest.history[rest.history["replica"] == k]
        straight = whole.history[(whole.history["replica"] == k) & (whole.history["epoch"] >= 5)]
        np.testing.assert_allclose(resumed["val_loss"], straight["val_loss"], rtol=1e-5)
        assert rest.epochs[k] == whole.epochs[k]
        assert rest.paused[k].stopped == whole.paused[k].stopped
        for ours, theirs in zip(rest.states[k].variables, whole.states[k].variables, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_a_replica_that_stopped_early_cannot_resume(noisy):
    x, y, x_val, y_val = noisy
    first = fit_replicas(x, y, x_val, y_val, [1.0], [1], RECIPE, max_epochs=30, patience=1)
    assert first.paused[0].stopped
    with pytest.raises(ValueError, match="replica 0 stopped early"):
        fit_replicas(x, y, x_val, y_val, [1.0], [1], RECIPE, 40, 1, resume=first.paused)


def test_without_validation_every_replica_trains_all_epochs(noisy):
    x, y, *_ = noisy
    empty = np.zeros((0, x.shape[1]), "float32")
    fit = fit_replicas(
        x, y, empty, np.zeros(0, "float32"), [1e-3], [2], RECIPE, max_epochs=4, patience=1
    )
    assert fit.epochs == [4]
    assert fit.history["val_loss"].isna().all()


def test_refit_trains_each_replica_for_its_own_epoch_count(noisy):
    x, y, *_ = noisy
    refit = refit_replicas(x, y, [1e-3, 1e-3], [5, 6], RECIPE, [2, 4])
    counts = refit.history.groupby("replica")["epoch"].count().to_dict()
    assert counts == {0: 2, 1: 4}
    assert refit.epochs == [2, 4]


@pytest.mark.parametrize(
    ("optimizer", "baseline"), [("adam", 1e-3), ("sgd", 1e-2), ("rmsprop", 1e-3)]
)
def test_the_baseline_is_the_optimizers_keras_default_rate(optimizer, baseline):
    import pandas as pd

    from lrfinder.data.cleaning import CleanData
    from lrfinder.data.splitting import split_and_scale
    from lrfinder.engine.setup import training_setup
    from lrfinder.params import ModelSettings, SplitSettings, TrainingSettings
    from lrfinder.training.final import train_final

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    frame["y"] = (frame["a"] > 0).astype("int64")
    split = split_and_scale(CleanData(frame, ["a", "b"], "y"), SplitSettings())
    model = ModelSettings(optimizer=optimizer, hidden_layers=[4], n_seeds=1)
    trained = train_final(
        split, 0.05, training_setup(model, split), TrainingSettings(max_epochs=2, refit=False)
    )
    assert trained.baseline_lr == baseline
    assert trained.fit.rates == [0.05, baseline]
    given = train_final(
        split, 0.05, training_setup(model, split), TrainingSettings(max_epochs=1, baseline_lr=0.3)
    )
    assert given.baseline_lr == 0.3


def test_the_races_replicas_are_the_final_models_and_a_refit_retrains_them_for_their_epochs():
    import pandas as pd

    from lrfinder.data.cleaning import CleanData
    from lrfinder.data.splitting import split_and_scale
    from lrfinder.engine.setup import training_setup
    from lrfinder.params import ModelSettings, SplitSettings, TrainingSettings
    from lrfinder.training.final import train_final

    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"a": rng.normal(size=160), "b": rng.normal(size=160)})
    frame["y"] = (frame["a"] + rng.normal(size=160) > 0).astype("int64")
    split = split_and_scale(CleanData(frame, ["a", "b"], "y"), SplitSettings())
    setup = training_setup(ModelSettings(hidden_layers=[4], n_seeds=2), split)
    x, y = split.arrays("train")
    x_val, y_val = split.arrays("val_check")
    raced = fit_replicas(
        x, y, x_val, y_val, [0.05, 0.05, 1e-3, 1e-3], [0, 1, 0, 1], setup.recipe, 4, 2
    )
    kept = train_final(split, 0.05, setup, TrainingSettings(), raced=raced)
    assert kept.fit is raced and kept.refit is None and kept.baseline_lr == 1e-3
    refit = train_final(split, 0.05, setup, TrainingSettings(refit=True), raced=raced)
    assert refit.fit is raced and refit.refit.epochs == raced.epochs
    assert refit.refit.history.groupby("replica")["epoch"].count().tolist() == raced.epochs
