"""A user's saved Keras model as the network: any architecture and layers, custom layers from a
module a setting names, its compiled optimizer and loss, and the checks at the boundary."""

import keras
import numpy as np
import pytest

from lrfinder.engine.recipe import recipe_of
from lrfinder.engine.replicas import Replicas
from lrfinder.errors import SettingsError
from lrfinder.model.heads import BINARY, head_for
from lrfinder.model.network import check_model_file, load, save, to_keras
from lrfinder.params import ModelSettings, parse_settings
from tests.custom_layers import Scale
from tests.helpers import tiny_classification


def residual(path, inputs: int = 4, units: int = 1, activation: str = "sigmoid"):
    """A functional residual MLP with BatchNormalization, saved to `path`."""
    features = keras.Input((inputs,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="stem")(features)
    branch = keras.layers.BatchNormalization(name="norm")(keras.layers.Dense(8, name="inner")(h))
    h = keras.layers.Add(name="skip")([h, branch])
    outputs = keras.layers.Dense(units, activation=activation, name="good")(h)
    save(keras.Model(features, outputs, name="residual"), path)
    return path


def with_custom_layer(path):
    model = keras.Sequential(
        [keras.Input((4,)), Scale(name="scale"), keras.layers.Dense(1, activation="sigmoid")]
    )
    save(model, path)
    return path


def test_it_trains_from_fresh_seeds_and_exports_with_the_users_layers_and_names(tmp_path):
    path = residual(tmp_path / "residual.keras")
    recipe = recipe_of(ModelSettings(model_file=path), 4)
    x, y = tiny_classification(4)
    engine = Replicas(recipe, [1, 2])
    engine.train(x, y, np.full(10, 1e-2))
    save(to_keras(recipe.network, [engine.replica_state(0).variables]), tmp_path / "final.keras")
    reloaded = load(tmp_path / "final.keras")
    assert [layer.name for layer in reloaded.layers] == [
        "x", "stem", "inner", "norm", "skip", "good",
    ]  # fmt: skip
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), engine.outputs(x)[0], atol=1e-6)
    ensemble = to_keras(recipe.network, [state.variables for state in engine.states()])
    assert [layer.name for layer in ensemble.layers] == ["features", "replica0", "replica1", "mean"]
    assert "norm" in [layer.name for layer in ensemble.get_layer("replica1").layers]


def test_custom_layers_come_from_the_module_a_setting_names(tmp_path):
    path = with_custom_layer(tmp_path / "custom.keras")
    registered = keras.saving.get_custom_objects().pop("lrfinder_tests>Scale")
    try:
        with pytest.raises(SettingsError, match=r"custom class 'Scale'.*--custom-module"):
            check_model_file(parse_settings({"model": {"model_file": str(path)}}).resolved().model)
    finally:
        keras.saving.get_custom_objects()["lrfinder_tests>Scale"] = registered
    settings = {"model_file": str(path), "custom_module": "tests.custom_layers"}
    model = parse_settings({"model": settings}).resolved().model
    recipe = recipe_of(model, 4)
    x, y = tiny_classification(2)
    engine = Replicas(recipe, [3])
    engine.train(x, y, np.full(8, 1e-2))
    factor = engine.replica_state(0).trainable[0]
    assert factor.shape == (4,) and not np.allclose(factor, 1.0), "the custom layer trains"
    save(to_keras(recipe.network, [engine.replica_state(0).variables]), tmp_path / "final.keras")
    reloaded = load(tmp_path / "final.keras", "tests.custom_layers")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), engine.outputs(x)[0], atol=1e-6)
    with pytest.raises(SettingsError, match="--custom-module no_such_module: cannot import"):
        recipe_of(ModelSettings(model_file=path, custom_module="no_such_module"), 4)


def test_the_files_compiled_optimizer_and_loss_apply_unless_others_are_named(tmp_path):
    path = tmp_path / "compiled.keras"
    model = keras.models.load_model(residual(tmp_path / "plain.keras"))
    model.compile(keras.optimizers.Nadam(beta_1=0.8), loss="binary_focal_crossentropy")
    save(model, path)
    recipe = recipe_of(ModelSettings(model_file=path), 4)
    assert recipe.optimizer.name == "nadam"
    assert recipe.optimizer.build().beta_1 == pytest.approx(0.8)
    assert "binary_focal_crossentropy" in recipe.loss
    named = recipe_of(
        ModelSettings(
            model_file=path, optimizer="lion", optimizer_config='{"beta_1": 0.95}', loss="hinge"
        ),
        4,
    )
    assert (named.optimizer.name, named.loss) == ("lion", "hinge")
    assert named.optimizer.build().beta_1 == pytest.approx(0.95)


def test_the_input_and_the_output_must_fit_the_data_and_task(tmp_path):
    path = residual(tmp_path / "m.keras")
    with pytest.raises(SettingsError, match="takes 4 inputs, but the data has 5 features"):
        Replicas(recipe_of(ModelSettings(model_file=path), 5), [0])
    with pytest.raises(SettingsError, match=r"output has shape \(1,\), but the multiclass task"):
        Replicas(recipe_of(ModelSettings(model_file=path), 4, head_for("multiclass", 3)), [0])
    taken = tmp_path / "taken.keras"
    save(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="mean")]), taken)
    with pytest.raises(SettingsError, match="the layer name 'mean' is taken"):
        Replicas(recipe_of(ModelSettings(model_file=taken), 4, BINARY), [0])


def test_settings_check_the_file_the_loss_and_the_optimizer_before_any_work(tmp_path):
    path = residual(tmp_path / "m.keras")
    with pytest.raises(SettingsError, match=r"--model .* so --dropout cannot apply"):
        parse_settings({"model": {"model_file": str(path), "dropout": 0.1}}).resolved()
    with pytest.raises(SettingsError, match="no such file"):
        parse_settings({"model": {"model_file": str(tmp_path / "none.keras")}}).resolved()
    broken = tmp_path / "broken.keras"
    broken.write_text("not a model")
    with pytest.raises(SettingsError, match="cannot load it as a Keras model"):
        check_model_file(parse_settings({"model": {"model_file": str(broken)}}).resolved().model)
    with pytest.raises(SettingsError, match="--loss huber does not fit the binary task"):
        parse_settings({"model": {"loss": "huber"}}).resolved()
    with pytest.raises(SettingsError, match="name different losses"):
        nested = {"model": {"loss": "log_cosh", "regression_loss": "huber"}}
        parse_settings({**nested, "data": {"task": "regression", "target": "y"}}).resolved()
    with pytest.raises(SettingsError, match="--nesterov and --optimizer-config"):
        nested = {"optimizer": "sgd", "nesterov": True, "optimizer_config": '{"nesterov": false}'}
        parse_settings({"model": nested}).resolved()
    with pytest.raises(SettingsError, match="is not JSON"):
        parse_settings({"model": {"optimizer_config": "{weight_decay: 1}"}}).resolved()
    assert parse_settings({"model": {"model_file": str(path)}}).resolved().model.model_file == path
