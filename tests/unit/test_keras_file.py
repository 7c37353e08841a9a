"""A user's saved Keras model as the network: read, checked, trained, exported with its names."""

import keras
import numpy as np
import pytest

from lrfinder.engine.stacked import StackedMLP
from lrfinder.errors import SettingsError
from lrfinder.model.export import load, save, to_keras
from lrfinder.model.heads import BINARY, MulticlassHead
from lrfinder.model.keras_file import read_structure, spec_from_structure
from lrfinder.params import ModelSettings, parse_settings
from tests.helpers import tiny_classification


def user_model(path, *layers, inputs: int = 4):
    model = keras.Sequential([keras.Input((inputs,)), *layers])
    model.save(path)
    return path


def wide(tmp_path):
    return user_model(
        tmp_path / "wide.keras",
        keras.layers.Dense(
            16, activation="gelu", kernel_regularizer=keras.regularizers.L2(1e-4), name="wide_1"
        ),
        keras.layers.Dropout(0.2, name="drop_1"),
        keras.layers.Dense(8, name="wide_2"),
        keras.layers.Activation("tanh", name="squash"),
        keras.layers.Dense(1, activation="sigmoid", name="good"),
    )


def test_a_chain_of_supported_layers_becomes_the_spec(tmp_path):
    path = wide(tmp_path)
    spec = spec_from_structure(read_structure(path), 4, BINARY, path)
    assert [(layer.width, layer.activation, layer.dropout) for layer in spec.layers] == [
        (16, "gelu", 0.2),
        (8, "tanh", 0.0),
    ]
    assert spec.l2 == (1e-4, 0.0, 0.0)
    assert [p.name for p in spec.pieces] == ["wide_1", "drop_1", "wide_2", "squash", "good"]


def test_it_trains_from_fresh_seeds_and_exports_with_the_users_names(tmp_path):
    path = wide(tmp_path)
    recipe = ModelSettings(model_file=path, hidden_layers=[128, 256, 256]).recipe(4)
    x, y = tiny_classification(4)
    engine = StackedMLP(recipe, [1, 2])
    engine.train(x, y, np.full(10, 1e-2))
    single = to_keras(recipe.spec, [engine.replica_weights(0)])
    save(single, tmp_path / "final.keras")
    reloaded = load(tmp_path / "final.keras")
    assert [layer.name for layer in reloaded.layers][1:] == [  # after the InputLayer
        "wide_1",
        "drop_1",
        "wide_2",
        "squash",
        "good",
    ]
    np.testing.assert_allclose(
        reloaded.predict(x, verbose=0)[:, 0], engine.predict(x)[0], atol=1e-6
    )
    ensemble = to_keras(recipe.spec, [engine.replica_weights(k) for k in range(2)])
    assert "replica1_wide_2" in [layer.name for layer in ensemble.layers]


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [
                keras.layers.Dense(8),
                keras.layers.BatchNormalization(name="bn"),
                keras.layers.Dense(1, activation="sigmoid"),
            ],
            r"layer 2 'bn' \(BatchNormalization\) is not supported. Supported: Input, Dense",
        ),
        (
            [
                keras.layers.Dense(8, kernel_regularizer=keras.regularizers.L1(0.1), name="l1"),
                keras.layers.Dense(1, activation="sigmoid"),
            ],
            r"layer 1 'l1' \(Dense\): only an L2 kernel regulariser",
        ),
    ],
)
def test_a_layer_the_engine_cannot_train_is_named_with_its_position(tmp_path, layers, message):
    path = user_model(tmp_path / "bad.keras", *layers)
    with pytest.raises(SettingsError, match=message):
        read_structure(path)


def test_the_input_width_and_the_output_must_fit_the_data_and_task(tmp_path):
    path = wide(tmp_path)
    structure = read_structure(path)
    with pytest.raises(SettingsError, match=r"takes 4 inputs, but the data has 12 features"):
        spec_from_structure(structure, 12, BINARY, path)
    with pytest.raises(
        SettingsError,
        match=r"output layer has 1 unit\(s\) with activation 'sigmoid', but the multiclass task needs 3 with 'softmax'",
    ):
        spec_from_structure(structure, 4, MulticlassHead(3), path)


def test_settings_check_the_file_before_any_work(tmp_path):
    path = wide(tmp_path)
    with pytest.raises(SettingsError, match=r"--model .* so --dropout cannot apply"):
        parse_settings({"model": {"model_file": str(path), "dropout": 0.1}}).resolved()
    with pytest.raises(SettingsError, match="no such file"):
        parse_settings({"model": {"model_file": str(tmp_path / "none.keras")}}).resolved()
    assert parse_settings({"model": {"model_file": str(path)}}).resolved().model.model_file == path


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [
                keras.layers.Dense(8),
                keras.layers.Dropout(0.5),
                keras.layers.Dropout(0.5, name="again"),
                keras.layers.Dense(1, activation="sigmoid"),
            ],
            r"Dropout 'again' follows another Dropout",
        ),
        (
            [
                keras.layers.Dense(8),
                keras.layers.Dropout(0.5),
                keras.layers.Activation("tanh", name="late"),
                keras.layers.Dense(1, activation="sigmoid"),
            ],
            r"Activation 'late' must directly follow a Dense layer",
        ),
        (
            [keras.layers.Dense(8, name="features"), keras.layers.Dense(1, activation="sigmoid")],
            r"the name 'features' is taken by the saved final model",
        ),
    ],
)
def test_a_chain_the_engine_would_train_differently_is_refused(tmp_path, layers, message):
    path = user_model(tmp_path / "odd.keras", *layers)
    with pytest.raises(SettingsError, match=message):
        spec_from_structure(read_structure(path), 4, BINARY, path)
