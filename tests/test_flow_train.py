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

pytestmark = pytest.mark.usefixtures("prefect_api")

SHORT = {
    "n_seeds": 3,
    "max_epochs": 15,
    "patience": 3,
    "confirm_candidates": 5,
    "confirm_epochs": 2,
}


def test_flow_trains_evaluates_and_saves_a_reloadable_model(workspace, wine_csv):
    run_dir = Path(lr_finder(**flow_parameters(data=str(wine_csv), **SHORT)))
    assert {p.name for p in run_dir.iterdir()} >= MODEL_FILES

    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    test = pd.read_parquet(run_dir / "test.parquet")
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    reloaded = model.predict(test.drop(columns="is_good_wine").to_numpy("float32"), verbose=0)[:, 0]
    np.testing.assert_allclose(reloaded, predictions["prob_chosen"], atol=1e-5)
    assert model.name == "mlp_seed_ensemble"

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

    gate = {"min_test_accuracy": 0.99, "quality_gate_mode": "fail"}
    state = lr_finder(return_state=True, **flow_parameters(data=str(wine_csv), **SHORT, **gate))
    assert state.is_failed()
    with pytest.raises(
        RuntimeError, match=r"quality gate: test accuracy 0\.\d+ is below the minimum 0\.99"
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
