"""`lrfinder.find_lr`: the library call on a Keras model and arrays in memory."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import lrfinder
from lrfinder.engine.backend import keras
from lrfinder.engine.recipe import recipe_of
from lrfinder.lr.arguments import task_head
from lrfinder.params import ModelSettings, RangeTestSettings, SelectionSettings, TrainingSettings

QUICK = {
    "range_test": RangeTestSettings(num_steps=40),
    "selection": SelectionSettings(confirm_candidates=3, first_rung_epochs=2, confirm_extensions=0),
    "training": TrainingSettings(max_epochs=4, patience=2),
}


def data(rows: int = 240, features: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype("float32")
    return x, (x[:, 0] - x[:, 1] > 0).astype("float32")


def small_model(features: int = 4, units: int = 1, activation: str = "sigmoid") -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(units, activation=activation),
        ]
    )


def test_find_lr_confirms_on_validation_data_and_returns_the_chosen_replicas():
    x, y = data()
    model = small_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    before = [np.array(v) for v in model.weights]
    found = lrfinder.find_lr(
        model, x[:160], y[:160], validation_data=(x[160:], y[160:]), seeds=2, **QUICK
    )
    assert found.chosen_by == "confirmation"
    assert found.chosen_lr in set(found.selection.confirmation.by_rate["lr"])
    assert set(found.suggestions) == {"valley", "steepest", "minimum/10", "argmin"}
    assert set(found.curves["replica"]) == {0, 1}
    assert isinstance(found.plot(), Figure)
    assert json.loads(json.dumps(found.to_dict()))["chosen_lr"] == found.chosen_lr
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(before, model.weights, strict=True))
    ensemble, single = found.final_model(), found.final_model("single")
    p_ensemble = ensemble.predict(x[160:], verbose=0)
    p_single = single.predict(x[160:], verbose=0)
    assert p_ensemble.shape == p_single.shape == (80, 1)
    assert not np.allclose(p_ensemble, p_single)  # two replicas averaged, not one
    refit = found.final_model(refit_on=(x, y)).predict(x[160:], verbose=0)
    assert refit.shape == (80, 1) and not np.allclose(refit, p_ensemble)
    with pytest.raises(ValueError, match=r"refit_on\[1\] has 3 rows but refit_on\[0\] has 240"):
        found.final_model(refit_on=(x, y[:3]))


def test_the_race_under_the_training_protocol_gives_the_final_models_and_only_then():
    x, y = data()
    found = lrfinder.find_lr(
        small_model(), x[:160], y[:160], validation_data=(x[160:], y[160:]), seeds=2, **QUICK
    )
    selection, protocol = found.selection, QUICK["training"].protocol
    race = selection.confirmation
    assert [rung.epochs for rung in race.rungs] == [2, 4]
    assert selection.raced_models(protocol, [0, 1]) is race.final
    assert race.final.rates == [found.chosen_lr] * 2 + [race.baseline_lr] * 2
    longer = TrainingSettings(max_epochs=5, patience=2).protocol
    assert selection.raced_models(longer, [0, 1]) is None, "another protocol: train again"
    assert selection.raced_models(protocol, [0, 1, 2]) is None, "other seeds: train again"
    unconfirmed = found.select(x[:160], y[:160], None, SelectionSettings(confirm=False))
    assert unconfirmed.selection.protocol is None and unconfirmed.selection.confirmation is None


def test_without_validation_data_the_chosen_rate_is_the_curve_reading():
    x, y = data()
    found = lrfinder.find_lr(small_model(), x, y, seeds=2, range_test=QUICK["range_test"])
    assert found.chosen_by == "curve reading"
    assert found.chosen_lr == found.suggestions["valley"]
    assert "not confirmed" in found.reason
    with pytest.raises(ValueError, match="final_model: no replicas were trained"):
        found.final_model()


def test_a_keras_model_and_the_flows_recipe_take_one_path_to_the_same_curves():
    """The flow passes its recipe; a user passes the same network as a Keras model."""
    x, y = data()
    recipe = recipe_of(ModelSettings(hidden_layers=[8], n_seeds=2), x.shape[1])
    settings = QUICK["range_test"]
    from_recipe = lrfinder.find_lr(recipe, x, y, seeds=2, range_test=settings)
    from_model = lrfinder.find_lr(recipe.network.build(), x, y, seeds=2, range_test=settings)
    pd.testing.assert_frame_equal(from_recipe.curves, from_model.curves)


@pytest.mark.parametrize(
    ("units", "labels", "loss", "task", "expected"),
    [
        (1, [0, 1, 1], None, None, "binary"),
        (1, [0.5, 1.5, 2.0], None, None, "regression"),
        (1, [0, 1, 1], "huber", None, "regression"),
        (3, [0, 2, 1], None, None, "multiclass"),
        (1, [0, 1, 1], None, "regression", "regression"),
    ],
)
def test_the_task_is_read_from_the_output_the_labels_and_the_loss(
    units, labels, loss, task, expected
):
    head = task_head(small_model(units=units), np.array(labels, "float32"), loss, task)
    assert head.name == expected


BAD_INPUTS = [
    ("not a model", {"model": "mlp"}, TypeError, "model: expected a Keras model"),
    ("x 1-D", {"x": np.zeros(10)}, ValueError, r"x: expected a matrix .* shape \(10,\)"),
    ("rows differ", {"y": np.zeros(5)}, ValueError, "y has 5 rows but x has 240"),
    ("one-hot y", {"y": np.zeros((240, 2))}, ValueError, r"y.argmax\(axis=1\)"),
    ("wrong width", {"model": small_model(features=3)}, ValueError, "takes 3 inputs.*4 features"),
    (
        "class index",
        {"y": np.full(240, 2.0), "task": "binary"},
        ValueError,
        "row 0 has 2, not a class index",
    ),
    ("unfit loss", {"loss": "huber", "task": "binary"}, ValueError, "loss huber does not fit"),
    ("multiclass", {"task": "multiclass"}, ValueError, "multiclass needs one output per class"),
    (
        "empty validation",
        {"validation_data": (np.zeros((0, 4)), np.zeros(0))},
        ValueError,
        r"validation_data\[0\]: has no rows",
    ),
    ("optimizer", {"optimizer": "adamm"}, ValueError, "'adamm' is not a built-in"),
    ("seeds", {"seeds": 0}, ValueError, "seeds: 0 replicas"),
    (
        "confirm without data",
        {"selection": SelectionSettings(confirm=True)},
        ValueError,
        "validation_data: the confirmation trains",
    ),
    (
        "validation width",
        {"validation_data": (np.zeros((4, 3)), np.zeros(4))},
        ValueError,
        r"validation_data\[0\] has 3 features but x has 4",
    ),
]


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_wrong_input_stops_with_the_argument_and_the_fix(given, error, message):
    x, y = data()
    arguments = {"model": small_model(), "x": x, "y": y, **given}
    with pytest.raises(error, match=message):
        lrfinder.find_lr(
            arguments.pop("model"), arguments.pop("x"), arguments.pop("y"), **arguments
        )


def test_class_weights_are_read_as_fit_takes_them():
    from lrfinder.lr.arguments import class_weights
    from lrfinder.model.heads import BINARY

    y = np.array([0, 0, 0, 1], "float32")
    assert class_weights({"1": 3.0}, y, BINARY) == (1.0, 3.0)
    assert class_weights("balanced", y, BINARY) == pytest.approx((2 / 3, 2.0))
    with pytest.raises(ValueError, match="class 2 is not a class of the binary task"):
        class_weights({2: 1.0}, y, BINARY)


def test_a_nan_in_a_frame_is_named_by_row_and_column():
    x, y = data()
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame.loc[7, "c"] = np.nan
    with pytest.raises(ValueError, match=r"the first at row 7, column 'c'\. Fix: drop or impute"):
        lrfinder.find_lr(small_model(), frame, y)
