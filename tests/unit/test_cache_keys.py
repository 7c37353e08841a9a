"""Cache keys derived from the code a stage really imports, and never from execution settings."""

import importlib
import pkgutil
import sys
import textwrap
from types import SimpleNamespace

from prefect import Task

import runtime.cache_keys as caching
import tasks
from lrfinder.engine.recipe import recipe_of
from lrfinder.engine.setup import TrainingSetup
from lrfinder.params import ExecutionSettings, ModelSettings, RunSettings, TrainingSettings
from runtime.cache_keys import content_cache, core_modules, module_source
from tasks.data import split_scale
from tasks.select import select
from tasks.sweep import sweep
from tasks.train import train


def _setup(**model) -> TrainingSetup:
    """The training set-up of `ModelSettings(**model)` for 4 features."""
    settings = ModelSettings(**model)
    return TrainingSetup(recipe_of(settings, 4), settings.seeds)


def test_a_stage_depends_on_the_core_modules_it_imports_transitively():
    training = core_modules(train.fn)
    assert {
        "lrfinder.training.final",
        "lrfinder.training.fit",
        "lrfinder.engine.recipe",
        "lrfinder.engine.interrupt",
        "lrfinder.engine.replicas",
        "lrfinder.engine.steps",
        "lrfinder.model.network",
        "lrfinder.model.heads",
        "lrfinder.params",
        "lrfinder",
    } <= set(training)
    assert "lrfinder.reporting.plots" not in training, "only the train task's own imports count"
    assert "lrfinder.lr.suggest" in core_modules(select.fn)
    assert "lrfinder.engine.replicas" in core_modules(sweep.fn)
    assert "lrfinder.engine.replicas" not in core_modules(split_scale.fn)


def test_modules_are_found_through_imports_anywhere_without_importing_them(tmp_path, monkeypatch):
    package = tmp_path / "depdemo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from depdemo.b import g\n    return g()\n")
    (package / "b.py").write_text("from depdemo import c\n\ndef g():\n    return c.VALUE\n")
    (package / "c.py").write_text("VALUE = 1\n")
    (package / "unused.py").write_text("VALUE = 2\n")
    (tmp_path / "depdemo_task.py").write_text(
        textwrap.dedent(
            """
            from depdemo import unused
            from depdemo.a import f

            def stage():
                return f()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from depdemo_task import stage

    found = core_modules(stage, root="depdemo")
    assert found == ["depdemo", "depdemo.a", "depdemo.b", "depdemo.c"]
    assert "depdemo.b" not in sys.modules and "depdemo.c" not in sys.modules
    before = module_source("depdemo.c")
    (package / "c.py").write_text("VALUE = 3\n")
    assert module_source("depdemo.c") != before


def _key(task, **inputs) -> str:
    context = SimpleNamespace(task=task)
    return content_cache().compute_key(context, inputs, {})


def test_editing_a_module_deep_in_the_chain_changes_the_keys_of_the_stages_that_use_it(
    monkeypatch,
):
    inputs = {"setup": _setup(), "settings": TrainingSettings()}
    train_key, split_key = _key(train, **inputs), _key(split_scale, **inputs)
    original = caching.module_source

    def edited(name: str) -> str:
        text = original(name)
        return text + "\n# edited\n" if name == "lrfinder.engine.interrupt" else text

    monkeypatch.setattr(caching, "module_source", edited)
    assert _key(train, **inputs) != train_key
    assert _key(split_scale, **inputs) == split_key


def test_where_replicas_run_never_changes_a_key_but_what_they_compute_does():
    base = {"setup": _setup(), "execution": ExecutionSettings()}
    placed = ExecutionSettings(task_runner="dask", cluster_address="tcp://x:1", gpus_per_group=1)
    assert _key(train, **base) == _key(train, **{**base, "execution": placed})
    smaller = {**base, "execution": ExecutionSettings(replicas_per_group=4)}
    assert _key(train, **base) != _key(train, **smaller), "slot count changes float rounding"
    assert _key(train, **base) != _key(train, **{**base, "setup": _setup(n_seeds=2)})


def test_a_setting_read_after_training_is_no_part_of_the_training_key():
    base = {"settings": TrainingSettings()}
    tuned = {"settings": TrainingSettings(decision_threshold="balanced_accuracy")}
    assert _key(train, **base) == _key(train, **tuned)
    assert _key(train, **base) != _key(train, settings=TrainingSettings(patience=3))


def test_the_race_is_keyed_by_the_training_protocol_and_not_by_what_it_does_not_read():
    protocol = RunSettings().race_protocol
    assert _key(select, protocol=protocol) == _key(
        select,
        protocol=RunSettings(training={"refit": True, "final_model": "single"}).race_protocol,
    )
    for changed in ({"patience": 3}, {"max_epochs": 50}, {"baseline_lr": 0.01}):
        other = RunSettings(training=changed).race_protocol
        assert _key(select, protocol=protocol) != _key(select, protocol=other), changed
    assert RunSettings(selection={"confirm": False}).race_protocol is None


def test_every_task_has_a_docstring_for_the_ui():
    found = []
    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        found += [value for value in vars(module).values() if isinstance(value, Task)]
    assert len({task.name for task in found}) >= 15
    assert [task.name for task in found if not (task.fn.__doc__ or "").strip()] == []


def test_the_keras_backend_is_part_of_the_keys_of_engine_stages_only(monkeypatch):
    inputs = {"setup": _setup(), "settings": TrainingSettings()}
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    train_key, split_key = _key(train, **inputs), _key(split_scale, **inputs)
    monkeypatch.delenv("KERAS_BACKEND")
    assert _key(train, **inputs) == train_key, "unset means jax"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert _key(train, **inputs) != train_key
    assert _key(split_scale, **inputs) == split_key


def test_the_source_of_a_custom_layer_module_is_part_of_the_engine_stages_keys(
    tmp_path, monkeypatch
):
    module = tmp_path / "user_layers_for_keys.py"
    module.write_text("FACTOR = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    inputs = {"setup": _setup(custom_module="user_layers_for_keys")}
    inputs["settings"] = TrainingSettings()
    before = _key(train, **inputs)
    assert _key(train, **inputs) == before
    module.write_text("FACTOR = 2\n")
    assert _key(train, **inputs) != before
