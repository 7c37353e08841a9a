"""Settings: constraints, cross-field rules and presets checked before any work, and the command
line generated from the same models."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import parse_args
from lrfinder.errors import SettingsError
from lrfinder.params import PRESETS, RunSettings, flags, nest, parse_settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_has_one_flat_flag_and_a_description():
    index = flags()
    assert index["data"] == ("data", "source")
    assert index["n_seeds"] == ("model", "n_seeds")
    assert index["task_runner"] == ("execution", "task_runner")
    for section, model in RunSettings.sections().items():
        for field, info in model.model_fields.items():
            assert info.description, f"{section}.{field} has no help text"
    assert len(index) == sum(len(m.model_fields) for m in RunSettings.sections().values()) + 1


def test_flat_names_nest_into_sections_and_unknown_ones_are_refused():
    assert nest({"data": "x.csv", "n_seeds": 3, "preset": "tutorial"}) == {
        "data": {"source": "x.csv"},
        "model": {"n_seeds": 3},
        "preset": "tutorial",
    }
    with pytest.raises(SettingsError, match="unknown setting 'n_seed'"):
        nest({"n_seed": 3})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--refit", "ture"],
            r"training\.refit \(--refit\): Input should be a valid boolean.*Fix: give --refit true or false",
        ),
        (["--val-size", "1"], r"split\.val_size \(--val-size\): Input should be less than 1"),
        (["--test-size", "0"], r"split\.test_size \(--test-size\)"),
        (["--num-steps", "5"], r"--num-steps\): Input should be greater than or equal to 10"),
        (
            ["--min-lr", "1", "--max-lr", "0.1"],
            r"--min-lr 1 must be below --max-lr 0\.1.*Fix: lower",
        ),
        (
            ["--hidden-layers", "16", "0"],
            r"model\.hidden_layers \(--hidden-layers\): Input should be greater than or equal to 1 \(got '0'\)",
        ),
        (["--confirm-candidates", "2"], r"--confirm-candidates"),
        (["--n-seeds", "0"], r"model\.n_seeds \(--n-seeds\)"),
        (["--val-size", "0"], r"--confirm true needs a validation split.*--confirm false"),
        (["--cluster-address", "tcp://x:8786"], r"--task-runner is threads"),
        (["--gpus-per-group", "1"], r"--gpus-per-group asks a cluster"),
        (
            ["--target", "label", "--threshold", "1", "--positive-label", "yes"],
            r"two rules for one label",
        ),
        (["--task", "regression", "--threshold", "7"], r"but task is regression"),
        (["--task", "regression", "--confirm-metric", "val_accuracy"], r"no meaning"),
        (["--positive-label", "yes"], r"positive_label needs target"),
        (["--task", "regression", "--class-weight", "balanced"], r"--class-weight weighs"),
        (
            ["--min-test-accuracy", "0.8"],
            r"--min-test-accuracy was replaced.*--gate-metric accuracy",
        ),
        (["--task", "multiclass", "--gate-metric", "roc_auc"], r"not a metric of the multiclass"),
        (
            ["--task", "regression", "--gate-metric", "mcc"],
            r"--gate-metric mcc is not a metric of the regression task",
        ),
        (["--gate-metric", "auc"], r"--gate-metric\): Input should be 'accuracy'"),
        (
            ["--preset", "tutorial", "--n-seeds", "4"],
            r"preset 'tutorial' conflicts with --n-seeds 4",
        ),
    ],
)
def test_bad_settings_fail_with_the_setting_and_the_fix(argv, message):
    with pytest.raises(SettingsError, match=message):
        parse_args(argv)


def test_command_line_values_are_parsed_strictly():
    label = ["--threshold", "none", "--target", "label", "--positive-label", "yes"]
    rest = ["--refit", "no", "--hidden-layers", "16", "8", "--min-lr", "1e-5"]
    settings, retries, _ = parse_args([*label, *rest, "--flow-retries", "2"])
    assert settings.data.threshold is None and settings.data.positive_label == "yes"
    assert settings.training.refit is False
    assert settings.model.hidden_layers == [16, 8]
    assert settings.range_test.min_lr == 1e-5 and retries == 2


def test_a_preset_fills_what_was_not_given_and_keeps_the_rest():
    settings = parse_args(["--preset", "tutorial", "--data", "x.csv", "--max-lr", "1"]).settings
    for section, values in PRESETS["tutorial"].items():
        for field, value in values.items():
            assert getattr(getattr(settings, section), field) == value, (section, field)
    assert settings.data.source == "x.csv" and settings.range_test.max_lr == 1.0
    agreeing = parse_args(["--preset", "tutorial", "--n-seeds", "1", "--confirm", "false"]).settings
    assert agreeing == settings.model_copy(
        update={"data": agreeing.data, "range_test": agreeing.range_test}
    )
    assert parse_args([])[0] == RunSettings()


def test_a_typed_value_that_the_preset_would_change_stops_the_run_even_at_its_default():
    with pytest.raises(SettingsError, match=r"--n-seeds 8 \(the preset sets 1\), --refit True"):
        parse_args(["--preset", "tutorial", "--n-seeds", "8", "--refit", "true"])
    # From the UI's form, which sends every default, a default value counts as not given.
    form = {section: model().model_dump() for section, model in RunSettings.sections().items()}
    resolved = parse_settings({**form, "preset": "tutorial"}).resolved()
    assert resolved.model.n_seeds == 1 and not resolved.training.refit
    with pytest.raises(SettingsError, match=r"--n-seeds 4"):
        parse_settings({**form, "model": {"n_seeds": 4}, "preset": "tutorial"}).resolved()


def test_a_settings_error_stops_the_command_line_before_anything_is_written(tmp_path):
    env = {
        **os.environ,
        "LRFINDER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "LRFINDER_DATA_DIR": str(tmp_path / "data"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "flows", "--val-size", "0", "--refit", "ture"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: invalid settings:\n")
    assert "(--refit): Input should be a valid boolean" in done.stderr and "Fix:" in done.stderr
    assert "Traceback" not in done.stderr and not done.stdout
    assert not any(tmp_path.iterdir()), "nothing may be created"


def test_an_unsupported_keras_backend_stops_the_command_line_at_once(tmp_path, monkeypatch, capsys):
    from flows.cli import main

    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "KERAS_BACKEND='torch' is not supported" in err and "jax or tensorflow" in err
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert main([]) == 2
    assert "but jax is not installed. Fix: pip install -e ." in capsys.readouterr().err
