"""The whole flow on the shared data: trained, evaluated, saved, gated; and the tutorial preset."""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from flows.lr_finder import lr_finder
from tests.helpers import MODEL_FILES, N_TASKS, flow_parameters
from tests.prefect_api import task_states

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.usefixtures("prefect_api")]

SHORT = {
    "n_seeds": 3,
    "max_epochs": 15,
    "patience": 3,
    "confirm_candidates": 5,
    "first_rung_epochs": 2,
    "refit": True,
}


def test_flow_trains_evaluates_and_saves_a_reloadable_model(workspace, wine_csv):
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), **SHORT)))
    assert {p.name for p in run_dir.iterdir()} >= MODEL_FILES

    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    test = pd.read_parquet(run_dir / "test.parquet")
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    reloaded = model.predict(test.drop(columns="is_good_wine").to_numpy("float32"), verbose=0)[:, 0]
    np.testing.assert_allclose(reloaded, predictions["prob_chosen"], atol=1e-5)
    assert model.name == "seed_ensemble"

    metrics = json.loads((run_dir / "metrics.json").read_text())
    report = json.loads((run_dir / "data_report.json").read_text())
    chosen, baseline = metrics["test"]["chosen"], metrics["test"]["baseline"]
    spread = baseline["across_seeds"]["accuracy"]["std"]
    assert chosen["final"]["accuracy"] >= baseline["across_seeds"]["accuracy"]["mean"] - spread
    assert chosen["final"]["rows"] == 1293
    twins = report["leakage"]["test_rows_with_twin_in_train_or_val"]
    assert metrics["test_without_twins"]["chosen"]["final"]["rows"] == 1293 - twins
    assert len(chosen["per_seed"]) == 3 and metrics["refit"]
    card = (run_dir / "model_card.md").read_text()
    assert report["source"]["files"][0]["sha256"] in card and "tensorflow" in card
    reference = metrics["reference"]
    assert reference["fit_on"] == "train + validation"
    assert reference["rows"] == report["rows"]["train"] + report["rows"]["val"]
    assert reference["test"]["rows"] == 1293 and reference["test"]["accuracy"] > 0.7
    column = "| HistGradientBoosting (reference, default settings) |"
    assert column in card and column in (run_dir / "report.md").read_text()

    gate = {"gate_value": 0.99, "quality_gate_mode": "fail"}
    state = lr_finder(return_state=True, **flow_parameters(data=str(wine_csv), **SHORT, **gate))
    assert state.is_failed()
    with pytest.raises(
        RuntimeError, match=r"quality gate: test accuracy 0\.\d+ is below the minimum 0\.9900"
    ):
        state.result()
    states = task_states(state.state_details.flow_run_id, N_TASKS)
    assert states["train"] == "Cached" and states["select"] == "Cached"
    assert states["quality-gate"] == "Failed"
    assert (workspace["artifacts"] / "latest" / "metrics.json").is_file()


def test_tutorial_preset_reproduces_the_tutorial(workspace, wine_csv):
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), preset="tutorial")))
    assert len(pd.read_parquet(run_dir / "val.parquet")) == 0
    assert len(pd.read_parquet(run_dir / "train.parquet")) == 5170
    curves = json.loads((run_dir / "range_test.json").read_text())
    assert curves["mode"] == "epoch" and curves["steps_run"] == 100 * 162
    selection = json.loads((run_dir / "selection.json").read_text())
    assert selection["method"] == "argmin" and selection["confirmation"] is None
    assert 0.003 <= selection["chosen_lr"] <= 0.015, "the tutorial read about 0.007 off its plot"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["final_model"] == "single" and not metrics["refit"]
    assert metrics["epochs"]["chosen"] == [100]
    assert metrics["test"]["chosen"]["final"]["accuracy"] >= 0.77, "the tutorial reports 0.79"


QUICK = {
    "n_seeds": 2,
    "max_epochs": 8,
    "patience": 2,
    "confirm_candidates": 3,
    "first_rung_epochs": 2,
}


def test_regression_on_the_wine_score_beats_the_mean_and_answers_in_its_units(workspace, wine_csv):
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), task="regression", **QUICK)))
    names = {p.name for p in run_dir.iterdir()}
    assert {"predicted_vs_true.png", "residuals.png", "model.keras"} <= names
    assert "roc.png" not in names
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "regression"
    final, trivial = metrics["test"]["chosen"]["final"], metrics["test"]["trivial"]
    assert set(final) == {"rmse", "mae", "r2", "rows"}
    assert final["rmse"] < trivial["rmse"] and final["r2"] > 0.1, "learned more than the mean"
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    test = pd.read_parquet(run_dir / "test.parquet")
    np.testing.assert_array_equal(predictions["y_true"], test["quality"])
    assert 4.0 < predictions["pred_chosen"].mean() < 7.5, "in quality points, not standardised"
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    features = test.drop(columns="quality").to_numpy("float32")
    reloaded = model.predict(features, verbose=0)[:, 0]
    np.testing.assert_allclose(reloaded, predictions["pred_chosen"], atol=1e-4)
    scaler = json.loads((run_dir / "scaler.json").read_text())
    assert scaler["target"]["column"] == "quality"
    assert "Task: **regression**" in (run_dir / "report.md").read_text()
    assert "regression model" in (run_dir / "model_card.md").read_text()


def test_by_default_the_race_winners_replicas_are_the_final_models(workspace, wine_csv):
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), **QUICK)))
    selection = json.loads((run_dir / "selection.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    report = json.loads((run_dir / "data_report.json").read_text())
    race = selection["confirmation"]
    assert [rung["epochs"] for rung in race["rungs"]] == [2, 4, 8]
    assert race["protocol"] == {"max_epochs": 8, "patience": 2, "baseline_lr": None}
    assert metrics["baseline_lr"] == race["baseline_lr"] == 0.001
    runs = pd.DataFrame(race["runs"]).set_index(["lr", "seed"])
    for name, rate in (("chosen", selection["chosen_lr"]), ("baseline", race["baseline_lr"])):
        best = [int(runs.loc[(rate, seed), "best_epoch"]) + 1 for seed in metrics["seeds"]]
        assert metrics["epochs"][name] == best, "the race's replicas, not a second training"
    assert not metrics["refit"] and metrics["reference"]["fit_on"] == "train"
    assert metrics["reference"]["rows"] == report["rows"]["train"]
    twins = report["leakage"]["test_rows_with_twin_in_train"]
    assert metrics["test_without_twins"]["chosen"]["final"]["rows"] == 1293 - twins
    assert selection["chosen_lr"] in runs.index.get_level_values("lr")


def test_multiclass_on_the_wine_score_names_its_classes(workspace, wine_csv):
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), task="multiclass", **QUICK)))
    assert {"confusion_matrix.png", "class_recall.png"} <= {p.name for p in run_dir.iterdir()}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "multiclass" and metrics["classes"] == list("3456789")
    final, trivial = metrics["test"]["chosen"]["final"], metrics["test"]["trivial"]
    assert len(final["confusion_matrix"]) == 7 and set(final["per_class"]) == set("3456789")
    assert final["accuracy"] > trivial["accuracy"] and final["macro_f1"] > trivial["macro_f1"]
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert set(predictions["y_true"]) <= set("3456789")
    assert pd.api.types.is_string_dtype(predictions["y_true"]), "class names, not indices"
    probabilities = predictions[[f"prob_chosen_{c}" for c in "3456789"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    test = pd.read_parquet(run_dir / "test.parquet")
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    reloaded = model.predict(test.drop(columns="quality").to_numpy("float32"), verbose=0)
    np.testing.assert_allclose(reloaded, probabilities, atol=1e-5)
    data_report = json.loads((run_dir / "data_report.json").read_text())
    assert data_report["stratified"] == ["test", "val"]
    assert min(data_report["class_balance"]["test"].values()) >= 1


def test_a_users_keras_model_goes_through_the_flow_and_keeps_its_layer_names(
    workspace, wine_csv, tmp_path
):
    names = ["wide_1", "drop_1", "wide_2", "drop_2", "good_wine"]
    l2 = keras.regularizers.L2(1e-4)
    user = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(256, activation="gelu", kernel_regularizer=l2, name=names[0]),
            keras.layers.Dropout(0.2, name=names[1]),
            keras.layers.Dense(256, activation="gelu", kernel_regularizer=l2, name=names[2]),
            keras.layers.Dropout(0.2, name=names[3]),
            keras.layers.Dense(1, activation="sigmoid", name=names[4]),
        ]
    )
    user.save(tmp_path / "mine.keras")
    given = {"model": str(tmp_path / "mine.keras"), "final_model": "single", **QUICK}
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), **given)))
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    assert [layer.name for layer in model.layers if layer.name != "input_layer"] == names
    test = pd.read_parquet(run_dir / "test.parquet")
    reloaded = model.predict(test.drop(columns="is_good_wine").to_numpy("float32"), verbose=0)
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    np.testing.assert_allclose(reloaded[:, 0], predictions["prob_chosen"], atol=1e-5)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["chosen"]["final"]["accuracy"] > metrics["test"]["trivial"]["accuracy"]
