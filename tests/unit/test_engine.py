"""The replica engine against Keras itself (`fit`, `evaluate`, `predict`), and replicas against
solo runs. On TensorFlow, Keras's `fit` is compiled with XLA as the engine is (its random
numbers, for Dropout and GaussianNoise, differ outside XLA)."""

import json

import numpy as np
import pytest

from lrfinder.engine.backend import BACKEND, keras
from lrfinder.engine.batches import batch_order
from lrfinder.engine.recipe import OptimizerSpec, Recipe
from lrfinder.engine.replicas import Replicas, StopRule, predict
from lrfinder.model.heads import BINARY, head_for
from lrfinder.model.network import Network, save, to_keras
from lrfinder.names import ACTIVATIONS, OPTIMIZERS
from tests.helpers import one_fast

N_FEATURES = 5
PER_EPOCH = 5  # 150 rows: four batches of 32 and one of 22 per epoch


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, N_FEATURES)).astype("float32")
    y = (x[:, 0] - x[:, 1] + rng.normal(size=150) > 0).astype("float32")
    return x, y


def head_target(x: np.ndarray, task: str) -> np.ndarray:
    """A learnable target for a task: 0/1, class indices 0..2, or a standardized number."""
    signal = x[:, 0] - x[:, 1] + 0.5 * x[:, 2]
    if task == "binary":
        return (signal > 0).astype("float32")
    if task == "multiclass":
        return np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype("float32")
    y = 2.0 * signal + np.sin(3 * x[:, 3])
    return ((y - y.mean()) / y.std()).astype("float32")


def residual_batchnorm(head=BINARY):
    """A functional residual MLP with BatchNormalization."""
    inputs = keras.Input((N_FEATURES,))
    h = keras.layers.Dense(16, activation="relu")(inputs)
    branch = keras.layers.BatchNormalization()(keras.layers.Dense(16)(h))
    h = keras.layers.Activation("relu")(keras.layers.Add()([h, branch]))
    return keras.Model(inputs, keras.layers.Dense(head.units, activation=head.activation)(h))


def layernorm_noise(head=BINARY):
    """A Sequential model with LayerNormalization and GaussianNoise."""
    return keras.Sequential(
        [
            keras.Input((N_FEATURES,)),
            keras.layers.Dense(16, activation="gelu"),
            keras.layers.LayerNormalization(),
            keras.layers.GaussianNoise(0.3),
            keras.layers.Dense(head.units, activation=head.activation),
        ]
    )


ARCHITECTURES = {"residual_batchnorm": residual_batchnorm, "layernorm_noise": layernorm_noise}


def engine(
    seeds,
    network: Network | None = None,
    optimizer: str = "adam",
    config: dict | None = None,
    loss: str | None = None,
    class_weight=None,
) -> Replicas:
    network = network or Network(N_FEATURES, BINARY, (16, 8), dropout=0.2, l2=1e-3)
    recipe = Recipe(
        network,
        OptimizerSpec(optimizer, json.dumps(config or {})),
        loss or network.head.default_loss,
        32,
        None,
        class_weight,
    )
    return Replicas(recipe, list(seeds))


def file_network(tmp_path, build, head=BINARY) -> Network:
    """A Network of the user's model saved to a .keras file."""
    path = tmp_path / f"{build.__name__}.keras"
    save(build(head), path)
    return Network(N_FEATURES, head, model_file=str(path))


def keras_twin(replicas: Replicas, slot: int, lr: float, **compile_options) -> keras.Model:
    """The recipe's model with the slot's current variables, compiled as the recipe says with
    a fresh optimizer at rate `lr`."""
    recipe = replicas.recipe
    model = recipe.network.build()
    state = replicas.replica_state(slot)
    for variable, value in zip(
        model.trainable_variables + model.non_trainable_variables, state.variables, strict=True
    ):
        variable.assign(value)
    optimizer = recipe.optimizer.build()
    optimizer.learning_rate = lr
    model.compile(
        optimizer=optimizer, loss=recipe.keras_loss(), jit_compile=True, **compile_options
    )
    return model


def fit_in_engine_order(model, x, y, seed: int, epochs: int = 2, **fit_options) -> list[float]:
    """`model.fit` one epoch at a time on the batches the engine's replica `seed` draws;
    returns each epoch's History loss."""
    losses = []
    for epoch in range(epochs):
        rows = np.concatenate(batch_order(len(x), 32, seed, PER_EPOCH, start=epoch * PER_EPOCH))
        fitted = model.fit(x[rows], y[rows], batch_size=32, shuffle=False, verbose=0, **fit_options)
        losses += fitted.history["loss"]
    return losses


def assert_same_variables(model: keras.Model, replicas: Replicas, slot: int) -> None:
    ours = replicas.replica_state(slot).variables
    theirs = model.trainable_variables + model.non_trainable_variables
    for variable, value in zip(theirs, ours, strict=True):
        np.testing.assert_allclose(
            value,
            keras.ops.convert_to_numpy(variable.value),
            rtol=1e-5,
            atol=1e-6,
            err_msg=variable.path,
        )


def epoch_losses(trace, slot: int) -> list[float]:
    share = trace.batch_sizes.reshape(-1, PER_EPOCH)
    losses = trace.loss[:, slot].reshape(-1, PER_EPOCH)
    return list((losses * share).sum(axis=1) / share.sum(axis=1))


def check_against_fit(replicas: Replicas, x, y, rates: list[float], epochs: int = 2, **fit_options):
    """Each slot k trained at rates[k] for `epochs` epochs equals `fit` of the same model from the
    same variables on the same batches at that rate: variables (moving statistics and seed
    generators included) and each epoch's loss."""
    twins = [keras_twin(replicas, k, rate) for k, rate in enumerate(rates)]
    lrs = np.tile(np.asarray(rates, "float32"), (epochs * PER_EPOCH, 1))
    trace = replicas.train(x, y, lrs)
    assert trace.batch_sizes.tolist() == [32, 32, 32, 32, 22] * epochs
    for k, twin in enumerate(twins):
        history = fit_in_engine_order(twin, x, y, replicas.seeds[k], epochs, **fit_options)
        assert_same_variables(twin, replicas, k)
        np.testing.assert_allclose(epoch_losses(trace, k), history, rtol=1e-5)
    return trace


def test_dropout_and_l2_replicas_each_follow_keras_fit_at_their_own_rate(data):
    x, y = data
    check_against_fit(engine([3, 4, 5]), x, y, [1e-3, 3e-3, 1e-2])


@pytest.mark.parametrize("name", one_fast(sorted(ARCHITECTURES), "residual_batchnorm"))
def test_a_users_model_with_batch_and_noise_layers_follows_keras_fit(data, tmp_path, name):
    x, y = data
    replicas = engine([1, 2], file_network(tmp_path, ARCHITECTURES[name]))
    check_against_fit(replicas, x, y, [3e-3, 1e-2])


@pytest.mark.parametrize("optimizer", one_fast(OPTIMIZERS, "nadam"))
def test_every_keras_optimizer_follows_keras_fit(data, optimizer, request):
    if BACKEND == "tensorflow" and optimizer == "schedulefreeadamw":
        # Open: on TensorFlow, fit's ScheduleFreeAdamW ends far from the engine's replica
        # (weights near +-lr), though both start its momentum as a copy of the weights when
        # built eagerly; on JAX they agree. Strict: this fails once they agree.
        request.applymarker(pytest.mark.xfail(strict=True, reason="TensorFlow fit differs"))
    x, y = data
    check_against_fit(engine([6], optimizer=optimizer), x, y, [3e-3], epochs=1)


@pytest.mark.parametrize("task", one_fast(["multiclass", "regression"], "multiclass"))
def test_every_task_follows_keras_fit_and_predicts_as_keras(data, task):
    x, _ = data
    y = head_target(x, task)
    head = head_for(task, 3)
    replicas = engine([2, 9], Network(N_FEATURES, head, (16,)))
    check_against_fit(replicas, x, y, [3e-3, 1e-2], epochs=1)
    model = to_keras(replicas.recipe.network, [replicas.replica_state(1).variables])
    np.testing.assert_allclose(
        replicas.outputs(x)[1], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_a_loss_of_the_users_choice_follows_keras_fit(data):
    x, y = data
    replicas = engine([4], loss="binary_focal_crossentropy")
    check_against_fit(replicas, x, y, [1e-2], epochs=1)


@pytest.mark.parametrize("task", one_fast(["binary", "multiclass"], "binary"))
def test_class_weights_follow_keras_fit_with_class_weight(data, task):
    x, _ = data
    y = head_target(x, task)
    head = head_for(task, 3)
    weights = (0.5, 2.0) if task == "binary" else (0.5, 1.0, 3.0)
    replicas = engine([3], Network(N_FEATURES, head, (8,)), class_weight=weights)
    class_weight = dict(enumerate(weights))
    check_against_fit(replicas, x, y, [1e-2], epochs=1, class_weight=class_weight)
    twin = keras_twin(replicas, 0, 1e-2)
    val_loss, _ = replicas.evaluate(x, y)
    weighted = twin.evaluate(x, y, sample_weight=replicas.recipe.row_weights(y), verbose=0)
    assert val_loss[0] == pytest.approx(weighted, rel=1e-5)


def test_evaluate_outputs_and_the_export_are_keras_own(data):
    x, y = data
    replicas = engine([1, 2, 3])
    replicas.train(x, y, np.full(7, 1e-2))
    loss, accuracy = replicas.evaluate(x, y)
    network = replicas.recipe.network
    for k in range(3):
        model = to_keras(network, [replicas.replica_state(k).variables])
        model.compile(loss=replicas.recipe.keras_loss(), metrics=["binary_accuracy"])
        their_loss, their_accuracy = model.evaluate(x, y, verbose=0)
        assert loss[k] == pytest.approx(their_loss, rel=1e-5)
        assert accuracy[k] == pytest.approx(their_accuracy, abs=1e-6)
    ensemble = to_keras(network, [state.variables for state in replicas.states()])
    expected = predict(replicas.recipe, replicas.states(), x).mean(axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0)[:, 0], expected, atol=1e-6)


def test_a_frozen_replica_keeps_all_of_its_state(data, tmp_path):
    x, y = data
    replicas = engine([1, 2], file_network(tmp_path, residual_batchnorm), optimizer="adam")
    before = replicas.replica_state(1)
    replicas.train(x, y, np.full(12, 1e-2), active=np.array([True, False]))
    after = replicas.replica_state(1)
    for group in ("trainable", "non_trainable", "optimizer"):
        for a, b in zip(getattr(before, group), getattr(after, group), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=group)
    moved = replicas.replica_state(0)
    assert not np.array_equal(moved.non_trainable[0], before.non_trainable[0])


def test_a_diverging_replica_stops_with_its_state_as_at_that_step(data):
    x, y = data
    steps = 40
    lrs = np.stack([np.full(steps, 1e-3), np.geomspace(1e-3, 1e4, steps)], axis=1)
    replicas = engine([7, 8])
    trace = replicas.train(x, y, lrs, StopRule(beta=0.9, factor=4.0))
    assert trace.stopped_at[0] is None and trace.steps_run == steps
    stop = trace.stopped_at[1]
    assert stop is not None and stop < steps - 1
    assert np.isfinite(trace.loss[:stop, 1]).all() and np.isnan(trace.loss[stop + 1 :, 1]).all()
    # The same engine trained only up to the stop: the stopped replica's state has not moved.
    prefix = engine([7, 8])
    prefix.train(x, y, lrs[: stop + 1], StopRule(beta=0.9, factor=4.0))
    ours, theirs = replicas.replica_state(1), prefix.replica_state(1)
    for group in ("trainable", "non_trainable", "optimizer"):
        for a, b in zip(getattr(ours, group), getattr(theirs, group), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=group)


def test_replicas_draw_their_own_initializations_from_their_seeds(data, tmp_path):
    network = file_network(tmp_path, layernorm_noise)
    first, again = engine([1, 2], network), engine([2, 1], network)
    a, b = first.replica_state(0), first.replica_state(1)
    assert not np.array_equal(a.trainable[0], b.trainable[0])
    np.testing.assert_array_equal(a.trainable[0], again.replica_state(1).trainable[0])
    saved = keras.saving.load_model(network.model_file)
    assert not np.array_equal(a.trainable[0], saved.trainable_variables[0].numpy())
    paths = [v.path for v in saved.non_trainable_variables]
    seeds = [i for i, path in enumerate(paths) if path.endswith("seed_generator_state")]
    assert seeds and not np.array_equal(a.non_trainable[seeds[0]], b.non_trainable[seeds[0]])


def test_a_slot_loaded_with_a_new_replica_trains_as_a_fresh_engine(data):
    x, y = data
    replicas = engine([1, 2])
    replicas.train(x, y, np.full(6, 1e-2))
    replicas.load(0, 9)
    fresh = engine([9])
    trace = replicas.train(x, y, np.full(7, 3e-3), active=np.array([True, False]))
    fresh_trace = fresh.train(x, y, np.full(7, 3e-3))
    np.testing.assert_allclose(trace.loss[:, 0], fresh_trace.loss[:, 0], rtol=1e-5)
    for a, b in zip(
        replicas.replica_state(0).optimizer, fresh.replica_state(0).optimizer, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_rate_schedule_in_the_optimizer_is_replaced_by_the_engines_rates():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    config = keras.optimizers.Adam(schedule).get_config()
    spec = OptimizerSpec("adam", json.dumps(config))
    assert spec.has_schedule
    assert spec.default_lr == pytest.approx(1e-3)
    built = spec.build()
    assert not isinstance(built._learning_rate, keras.optimizers.schedules.LearningRateSchedule)


def test_the_settings_lists_are_keras_own():
    from keras.src.optimizers import ALL_OBJECTS_DICT

    not_optimizers = {"lossscaleoptimizer", "multioptimizer", "optimizer", "optimizermap"}
    assert set(OPTIMIZERS) == set(ALL_OBJECTS_DICT) - not_optimizers
    for name in ACTIVATIONS:
        assert keras.activations.get(name) is not None


def test_the_engine_runs_on_the_backend_keras_runs_on():
    assert keras.backend.backend() == BACKEND
