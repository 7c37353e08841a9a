import numpy as np
import pytest

from lrfinder.model.forward import logits
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
    restored = RECIPE.spec.head.loss(logits(RECIPE.spec, fit.weights, x_val), y_val)
    assert restored[0] == pytest.approx(best["val_loss"], rel=1e-4)


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
