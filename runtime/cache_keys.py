"""Cache keys from content: file hashes, upstream fingerprints, settings and code.

A stage's key covers the content of its inputs, its settings (where replicas run excepted: it
never changes their numbers), its own source, and the source of every core module it imports,
found by reading the import statements (`runtime.imports`) and following them through the core
package. Runs at the same time take the key's lock (`runtime.record_locks`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel

from lrfinder.engine.backend_name import backend_name
from lrfinder.engine.setup import TrainingSetup
from lrfinder.fileio import sha256_file
from lrfinder.params import SettingsSection
from runtime.imports import core_modules, module_source
from runtime.record_locks import RECORD_LOCKS

ENGINE = "lrfinder.engine.replicas"


def stable_form(value: Any) -> Any:
    """A hashable stand-in for `value` that depends on content, never on file names or ids."""
    if hasattr(value, "fingerprint"):
        return f"{type(value).__name__}:{value.fingerprint}"
    if isinstance(value, Path):
        return f"file:{sha256_file(value)}"
    if isinstance(value, SettingsSection):
        kept = value.model_dump(exclude=set(value.NOT_IN_KEYS))
        return {type(value).__name__: stable_form(kept)}
    if isinstance(value, BaseModel):
        return {type(value).__name__: stable_form(value.model_dump())}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {type(value).__name__: stable_form(fields)}
    if isinstance(value, dict):
        return {str(k): stable_form(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [stable_form(v) for v in value]
    return value


def content_cache() -> CachePolicy:
    """Key = task source + source of the core modules the task depends on + content of every
    argument (of execution settings, only what changes numbers) + the Keras backend, for tasks
    that run the engine + the source of a model file's custom-layer module. The sources are read once per process, at the task's
    first run: the key describes the code that runs, even if a file changes on disk later.
    Serializable: a run takes the key's lock before it looks the record up, so of two runs at
    once that need it, one computes and writes it and the other then reads it (`Cached`)."""
    code_of: dict[Callable, dict[str, str]] = {}

    def key(context: Any, parameters: dict[str, Any]) -> str | None:
        fn = context.task.fn
        if fn not in code_of:
            code_of[fn] = {name: module_source(name) for name in core_modules(fn)}
        # The engine's numbers depend on the Keras backend it runs on, and on the source of the
        # module that registers a model file's custom layers, too.
        backend = [backend_name()] if ENGINE in code_of[fn] else []
        custom = [
            module_source(value.recipe.network.custom_module)
            for value in parameters.values()
            if isinstance(value, TrainingSetup) and value.recipe.network.custom_module
        ]
        return hash_objects(
            code_of[fn], stable_form(parameters), *backend, *custom, raise_on_failure=True
        )

    policy = TASK_SOURCE + CachePolicy.from_cache_key_fn(key)
    return policy.configure(isolation_level="SERIALIZABLE", lock_manager=RECORD_LOCKS)
