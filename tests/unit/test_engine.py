"""The stacked engine against Keras itself, and replicas against solo runs."""

import dataclasses

import keras
import numpy as np
import pytest

from lrfinder.engine.optimizers import OPTIMIZERS
from lrfinder.engine.stacked import StackedMLP, StopRule, batch_order
from lrfinder.model.export import to_keras
from lrfinder.model.forward import predict
from lrfinder.model.heads import MulticlassHead, RegressionHead
from lrfinder.model.spec import ACTIVATIONS
from tests.helpers import one_fast, recipe

HIDDEN = (16, 8)


def stacked(seeds: list[int], batch_size: int = 32, head=None, **model) -> StackedMLP:
    return StackedMLP(recipe(5, HIDDEN, batch_size, head, **model), seeds)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 5)).astype("float32")
    y = (x[:, 0] - x[:, 1] + rng.normal(size=150) > 0).astype("float32")
    return x, y


HEADS = {
    "multiclass": MulticlassHead(3),
    "regression": RegressionHead("mse"),
    "huber": RegressionHead("huber"),
}


def head_target(x: np.ndarray, name: str) -> np.ndarray:
    """A learnable target for a head: class indices 0..2, or a standardised number."""
    signal = x[:, 0] - x[:, 1] + 0.5 * x[:, 2]
    if name == "multiclass":
        return np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3])).astype("float32")
    y = 2.0 * signal + np.sin(3 * x[:, 3])
    return ((y - y.mean()) / y.std()).astype("float32")


OURS = ("name", "default_lr")  # optimizer fields that are not Keras hyperparameters


def keras_optimizer(engine: StackedMLP, lr: float) -> keras.optimizers.Optimizer:
    """The Keras optimizer of the engine's optimizer's name, with the same hyperparameters."""
    optimizer = engine.recipe.optimizer
    fields = {f.name: getattr(optimizer, f.name) for f in dataclasses.fields(optimizer)}
    config = {"learning_rate": lr, **{k: v for k, v in fields.items() if k not in OURS}}
    return keras.optimizers.get({"class_name": optimizer.name, "config": config})


def keras_twin(engine: StackedMLP, lr: float) -> keras.Model:
    """The engine's network as a plain Keras model, built from its specification."""
    spec = engine.spec
    model = keras.Sequential(
        [keras.Input((spec.n_features,))]
        + [
            keras.layers.Dense(
                units,
                activation=activation,
                kernel_regularizer=keras.regularizers.L2(spec.kernel_l2(i))
                if spec.kernel_l2(i)
                else None,
            )
            for i, (units, activation) in enumerate(
                zip(spec.sizes[1:], spec.activations, strict=True)
            )
        ]
    )
    model.set_weights(engine.replica_weights(0))
    model.compile(optimizer=keras_optimizer(engine, lr), loss=spec.head.keras_loss)
    return model


class WeightRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


def fit_in_engine_order(
    model, x, y, seed: int, epochs: int = 2, **fit_options
) -> tuple[list, list[float]]:
    """`model.fit` one epoch at a time on the batches the engine's replica `seed` draws
    (150 rows: four batches of 32 and one of 22 per epoch), with `fit_options` (such as
    class_weight); returns the weights after every step and each epoch's History loss."""
    per_epoch = 5
    recorder = WeightRecorder()
    losses = []
    for epoch in range(epochs):
        rows = np.concatenate(batch_order(len(x), 32, seed, per_epoch, start=epoch * per_epoch))
        fitted = model.fit(
            x[rows],
            y[rows],
            batch_size=32,
            shuffle=False,
            verbose=0,
            callbacks=[recorder],
            **fit_options,
        )
        losses += fitted.history["loss"]
    return recorder.weights, losses


EPOCH_SHARES = np.array([32, 32, 32, 32, 22]) / 150  # each batch's share of an epoch's rows


def train_alongside(engine: StackedMLP, x, y, lr: float, weights: list) -> list[float]:
    """Train the engine's replica 0 step by step, checking its weights against Keras's after
    each step; returns the recorded batch losses."""
    losses = []
    for step in range(len(weights)):
        losses.append(engine.train(x, y, np.array([lr])).loss[0, 0])
        for ours, theirs in zip(engine.replica_weights(0), weights[step], strict=True):
            np.testing.assert_allclose(ours, theirs, atol=2e-6, err_msg=f"step {step}")
    return losses


@pytest.mark.parametrize("optimizer", one_fast(sorted(OPTIMIZERS), "adam"))
def test_k1_follows_keras_fit_step_by_step(data, optimizer):
    x, y = data
    lr, epochs = 3e-3, 2
    engine = stacked([11], optimizer=optimizer)
    model = keras_twin(engine, lr)
    per_epoch = 5  # 150 rows: four batches of 32 and one of 22
    weights, _ = fit_in_engine_order(model, x, y, 11, epochs)
    assert len(weights) == epochs * per_epoch
    for step in range(epochs * per_epoch):
        engine.train(x, y, np.array([lr]))
        for ours, theirs in zip(engine.replica_weights(0), weights[step], strict=True):
            np.testing.assert_allclose(ours, theirs, atol=2e-6, err_msg=f"step {step}")
    np.testing.assert_allclose(engine.predict(x)[0], model.predict(x, verbose=0)[:, 0], atol=1e-6)


def test_epoch_means_of_batch_loss_and_accuracy_match_keras_history(data):
    x, y = data
    lr, per_epoch = 3e-3, 5
    engine = stacked([11])
    model = keras_twin(engine, lr)
    model.compile(
        optimizer=keras_optimizer(engine, lr),
        loss=engine.spec.head.keras_loss,
        metrics=["accuracy"],
    )
    rows = np.concatenate(batch_order(len(x), 32, 11, per_epoch))
    history = model.fit(x[rows], y[rows], batch_size=32, epochs=1, shuffle=False, verbose=0)
    trace = engine.train(x, y, np.full(per_epoch, lr))
    share = trace.batch_sizes / trace.batch_sizes.sum()
    assert trace.batch_sizes.tolist() == [32, 32, 32, 32, 22]
    assert (trace.loss[:, 0] * share).sum() == pytest.approx(history.history["loss"][0], abs=1e-5)
    accuracy = (trace.accuracy[:, 0] * share).sum()
    assert accuracy == pytest.approx(history.history["accuracy"][0], abs=1e-6)


def test_replica_of_a_k_run_equals_its_solo_run(data):
    x, y = data
    rates = np.geomspace(1e-4, 1e-1, 12)
    lrs = np.stack([rates, rates * 0.5, rates * 2], axis=1)
    group = stacked([3, 4, 5])
    group_trace = group.train(x, y, lrs)
    solo = stacked([4])
    solo_trace = solo.train(x, y, lrs[:, 1])
    np.testing.assert_allclose(group_trace.loss[:, 1], solo_trace.loss[:, 0], rtol=1e-5)
    for ours, theirs in zip(group.replica_weights(1), solo.replica_weights(0), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert not np.allclose(group.replica_weights(0)[0], group.replica_weights(1)[0])


def test_same_seeds_give_identical_runs(data):
    x, y = data
    runs = []
    for _ in range(2):
        engine = stacked([1, 2])
        trace = engine.train(x, y, np.geomspace(1e-4, 1e-2, 10))
        runs.append((trace.loss, engine.replica_weights(1)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_diverging_replica_stops_while_the_others_go_on(data):
    x, y = data
    steps = 40
    lrs = np.stack([np.full(steps, 1e-3), np.geomspace(1e-3, 1e4, steps)], axis=1)
    engine = stacked([7, 8])
    trace = engine.train(x, y, lrs, StopRule(beta=0.9, factor=4.0))
    assert trace.stopped_at[0] is None
    stop = trace.stopped_at[1]
    assert stop is not None and stop < steps - 1
    assert np.isfinite(trace.loss[:stop, 1]).all()
    assert np.isnan(trace.loss[stop + 1 :, 1]).all()
    assert np.isfinite(trace.loss[:, 0]).all() and trace.steps_run == steps
    solo = stacked([7])
    solo.train(x, y, lrs[:, 0])
    np.testing.assert_allclose(engine.replica_weights(0)[0], solo.replica_weights(0)[0], atol=1e-6)


def test_recorded_loss_is_the_batch_loss_and_smoothing_is_bias_corrected(data):
    x, y = data
    engine = stacked([9])
    start = keras_twin(engine, 1e-3)
    first = batch_order(len(x), 32, 9, 1)[0]
    expected = keras.losses.binary_crossentropy(y[first], start.predict(x[first], verbose=0)[:, 0])
    trace = engine.train(x, y, np.full(3, 1e-3), StopRule(beta=0.98))
    assert trace.loss[0, 0] == pytest.approx(float(np.mean(expected)), rel=1e-5)
    assert trace.smoothed[0, 0] == pytest.approx(trace.loss[0, 0], rel=1e-6)
    ema = 0.98 * 0.02 * trace.loss[0, 0] + 0.02 * trace.loss[1, 0]
    assert trace.smoothed[1, 0] == pytest.approx(ema / (1 - 0.98**2), rel=1e-5)


def test_keras_export_predicts_like_the_engine(data):
    x, y = data
    engine = stacked([1, 2, 3])
    engine.train(x, y, np.full(10, 1e-2))
    single = to_keras(engine.spec, [engine.replica_weights(2)])
    np.testing.assert_allclose(single.predict(x, verbose=0)[:, 0], engine.predict(x)[2], atol=1e-6)
    ensemble = to_keras(engine.spec, [engine.replica_weights(k) for k in range(3)])
    np.testing.assert_allclose(
        ensemble.predict(x, verbose=0)[:, 0], engine.predict(x).mean(axis=0), atol=1e-6
    )
    weights = engine.weights()
    np.testing.assert_allclose(predict(engine.spec, weights, x), engine.predict(x), atol=1e-6)


@pytest.mark.parametrize("activation", one_fast(sorted(ACTIVATIONS), "relu"))
def test_every_activation_trains_like_keras_and_exports_alike(data, activation):
    x, y = data
    engine = stacked([5], activation=activation)
    assert engine.spec.activations == [activation, activation, "sigmoid"]
    twin = keras_twin(engine, 1e-2)
    rows = np.concatenate(batch_order(len(x), 32, 5, 5))
    twin.fit(x[rows], y[rows], batch_size=32, epochs=1, shuffle=False, verbose=0)
    engine.train(x, y, np.full(5, 1e-2))
    for ours, theirs in zip(engine.replica_weights(0), twin.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=2e-6)
    exported = to_keras(engine.spec, [engine.replica_weights(0)])
    np.testing.assert_allclose(
        exported.predict(x, verbose=0)[:, 0], engine.predict(x)[0], atol=1e-6
    )
    weights = engine.weights()
    np.testing.assert_allclose(predict(engine.spec, weights, x)[0], engine.predict(x)[0], atol=1e-6)


@pytest.mark.parametrize("optimizer", one_fast(sorted(OPTIMIZERS), "adam"))
def test_a_slot_loaded_with_a_new_replica_trains_as_a_fresh_engine(data, optimizer):
    x, y = data
    engine = stacked([1, 2], optimizer=optimizer)
    engine.train(x, y, np.full(6, 1e-2))
    engine.load(1, 9)
    engine.train(x, y, np.full(4, 1e-2))
    fresh = stacked([9], optimizer=optimizer)
    fresh.train(x, y, np.full(4, 1e-2))
    for ours, theirs in zip(engine.replica_weights(1), fresh.replica_weights(0), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("name", one_fast(sorted(HEADS), "multiclass"))
def test_every_head_follows_keras_fit_step_by_step_and_exports_alike(data, name):
    x, _ = data
    y = head_target(x, name)
    lr = 3e-3
    engine = stacked([11], head=HEADS[name])
    model = keras_twin(engine, lr)
    weights, _ = fit_in_engine_order(model, x, y, 11)
    for step in range(10):
        trace = engine.train(x, y, np.array([lr]))
        for ours, theirs in zip(engine.replica_weights(0), weights[step], strict=True):
            np.testing.assert_allclose(ours, theirs, atol=2e-6, err_msg=f"step {step}")
        assert np.isfinite(trace.loss).all()
    keras_output = model.predict(x, verbose=0)
    ours = engine.predict(x)[0]
    np.testing.assert_allclose(ours.reshape(keras_output.shape), keras_output, atol=1e-6)
    exported = to_keras(engine.spec, [engine.replica_weights(0)])
    np.testing.assert_allclose(exported.predict(x, verbose=0), keras_output, atol=1e-6)


@pytest.mark.parametrize("name", one_fast(sorted(HEADS), "multiclass"))
def test_with_every_head_a_replica_of_a_k_run_equals_its_solo_run(data, name):
    x, _ = data
    y = head_target(x, name)
    rates = np.geomspace(1e-4, 1e-1, 12)
    group = stacked([3, 4, 5], head=HEADS[name])
    group_trace = group.train(x, y, np.stack([rates, rates * 0.5, rates * 2], axis=1))
    solo = stacked([4], head=HEADS[name])
    solo_trace = solo.train(x, y, rates * 0.5)
    np.testing.assert_allclose(group_trace.loss[:, 1], solo_trace.loss[:, 0], rtol=1e-5)
    for ours, theirs in zip(group.replica_weights(1), solo.replica_weights(0), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    # The recorded loss is the head's own loss of the batch (NumPy, from the engine's logits).
    start = stacked([7], head=HEADS[name])
    first = batch_order(len(x), 32, 7, 1)[0]
    expected = start.spec.head.loss(start.logits(x[first]), y[first])[0]
    assert start.train(x, y, np.array([1e-3])).loss[0, 0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_l2_with_a_smooth_activation_follows_keras_fit_and_reports_the_penalised_loss(data):
    x, y = data
    lr, l2 = 1e-2, 1e-2
    engine = stacked([11], activation="gelu", l2=l2)
    model = keras_twin(engine, lr)
    model.compile(optimizer=keras_optimizer(engine, lr), loss=engine.spec.head.keras_loss)
    weights, history = fit_in_engine_order(model, x, y, 11)
    losses = train_alongside(engine, x, y, lr, weights)
    assert np.dot(losses[5:], EPOCH_SHARES) == pytest.approx(history[1], rel=1e-5), (
        "penalty included"
    )
    penalty = engine.spec.penalty(engine.weights())[0]
    assert penalty > 0.01 * losses[-1]


class ReplayDropout(keras.layers.Layer):
    """Keras's inverted dropout (kept units scaled by 1 / (1 - rate)) with masks set from
    outside: the engine's masks, replayed through `keras.Model.fit`."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def build(self, input_shape):
        self.kept = self.add_weight(
            shape=(32, input_shape[-1]), initializer="ones", trainable=False, name="kept"
        )

    def call(self, x, training=False):
        if not training:
            return x
        kept = self.kept[: keras.ops.shape(x)[0]] > 0.5
        return keras.ops.where(kept, x / (1.0 - self.rate), 0.0)


def test_dropout_with_l2_follows_keras_fit_with_the_engines_masks_and_is_off_in_prediction(data):
    from lrfinder.model import dropout

    x, y = data
    lr, rate, seed, l2 = 3e-3, 0.3, 11, 1e-3
    engine = stacked([seed], activation="elu", dropout=rate, l2=l2)
    spec = engine.spec
    dense = [
        keras.layers.Dense(
            layer.width, activation="elu", kernel_regularizer=keras.regularizers.L2(l2)
        )
        for layer in spec.layers
    ]
    replay = [ReplayDropout(rate) for _ in spec.layers]
    head = keras.layers.Dense(
        spec.head.units,
        activation=spec.head.activation,
        kernel_regularizer=keras.regularizers.L2(l2),
    )
    model = keras.Sequential(
        [
            keras.Input((spec.n_features,)),
            *[m for pair in zip(dense, replay, strict=True) for m in pair],
            head,
        ]
    )
    start = engine.replica_weights(0)
    for i, layer in enumerate([*dense, head]):
        layer.set_weights(start[2 * i : 2 * i + 2])
    model.compile(optimizer=keras_optimizer(engine, lr), loss=spec.head.keras_loss)
    for step in range(10):  # two epochs of 150 rows: the fifth batch of each has 22 rows
        rows = batch_order(len(x), 32, seed, 1, start=step)[0]
        for index, layer in enumerate(replay):
            kept = dropout.keep(
                np,
                np.array([seed], "int32"),
                np.array([step], "int32"),
                index,
                32,
                layer.kept.shape[1],
                rate,
            )
            layer.kept.assign(kept[0].astype("float32"))
        model.fit(x[rows], y[rows], batch_size=32, shuffle=False, verbose=0)
        engine.train(x, y, np.array([lr]))
        theirs = [w for layer in [*dense, head] for w in layer.get_weights()]
        for ours, keras_w in zip(engine.replica_weights(0), theirs, strict=True):
            np.testing.assert_allclose(ours, keras_w, atol=2e-6, err_msg=f"step {step}")
    np.testing.assert_allclose(engine.predict(x)[0], model.predict(x, verbose=0)[:, 0], atol=1e-6)
    np.testing.assert_allclose(predict(spec, engine.weights(), x), engine.predict(x), atol=1e-6)


def test_dropout_replicas_draw_their_own_masks_from_their_seeds(data):
    x, y = data
    rates = np.geomspace(1e-3, 1e-1, 12)
    group = stacked([3, 4, 5], dropout=0.4)
    group.train(x, y, np.stack([rates, rates, rates], axis=1))
    solo = stacked([4], dropout=0.4)
    solo.train(x, y, rates)
    for ours, theirs in zip(group.replica_weights(1), solo.replica_weights(0), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    plain = stacked([4])
    plain.train(x, y, rates)
    assert not np.allclose(plain.replica_weights(0)[0], solo.replica_weights(0)[0], atol=1e-4)
    group.load(2, 4)
    group.train(x, y, np.stack([rates, rates, rates], axis=1))
    for ours, theirs in zip(group.replica_weights(2), solo.replica_weights(0), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.slow
def test_sgd_with_nesterov_momentum_follows_keras_fit(data):
    x, y = data
    lr = 1e-2
    engine = stacked([11], optimizer="sgd", nesterov=True)
    assert engine.recipe.optimizer.nesterov
    model = keras_twin(engine, lr)
    rows = np.concatenate(batch_order(len(x), 32, 11, 5))
    model.fit(x[rows], y[rows], batch_size=32, shuffle=False, verbose=0)
    engine.train(x, y, np.full(5, lr))
    for ours, theirs in zip(engine.replica_weights(0), model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=2e-6)


@pytest.mark.slow
def test_dropout_on_many_layers_keeps_replicas_apart_and_runs_on_every_backend(data):
    x, y = data
    deep = {"dropout": 0.2}
    group = StackedMLP(recipe(5, (8, 8, 8, 8, 8), 32, **deep), [3, 2**31 + 5])
    trace = group.train(x, y, np.full(6, 1e-2))
    assert np.isfinite(trace.loss).all()
    solo = StackedMLP(recipe(5, (8, 8, 8, 8, 8), 32, **deep), [2**31 + 5])
    solo.train(x, y, np.full(6, 1e-2))
    for ours, theirs in zip(group.replica_weights(1), solo.replica_weights(0), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("name", one_fast(["binary", "multiclass"], "binary"))
def test_class_weights_follow_keras_fit_with_class_weight_and_weigh_the_loss_alike(data, name):
    x, binary_y = data
    head = HEADS.get(name)
    y = binary_y if name == "binary" else head_target(x, name)
    weights_by_class = (0.6, 2.5) if name == "binary" else (0.5, 1.0, 3.0)
    lr = 3e-3
    engine = stacked([11], head=head)
    engine.recipe = dataclasses.replace(engine.recipe, class_weight=weights_by_class)
    model = keras_twin(engine, lr)
    class_weight = dict(enumerate(weights_by_class))
    weights, history = fit_in_engine_order(model, x, y, 11, class_weight=class_weight)
    losses = train_alongside(engine, x, y, lr, weights)
    assert np.dot(losses[5:], EPOCH_SHARES) == pytest.approx(history[1], rel=1e-5)
    # Validation losses weigh rows alike: Keras's evaluate with the rows' class weights.
    row_weight = engine.recipe.row_weights(y)
    ours = engine.spec.head.loss(engine.logits(x), y, row_weight)[0]
    theirs = model.evaluate(x, y, sample_weight=row_weight, batch_size=150, verbose=0)
    assert ours == pytest.approx(theirs, rel=1e-5)
    assert ours != pytest.approx(engine.spec.head.loss(engine.logits(x), y)[0], rel=1e-3)
