"""Cache keys from content: file hashes, upstream fingerprints, parameters and code."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.utilities.hashing import hash_objects

from lrfinder.fileio import sha256_file


def stable_form(value: Any) -> Any:
    """A hashable stand-in for `value` that depends on content, never on file names or ids."""
    if hasattr(value, "fingerprint"):
        return f"{type(value).__name__}:{value.fingerprint}"
    if isinstance(value, Path):
        return f"file:{sha256_file(value)}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {type(value).__name__: stable_form(fields)}
    if isinstance(value, dict):
        return {str(k): stable_form(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [stable_form(v) for v in value]
    return value


def module_source(name: str) -> str:
    """Source text of module `name`, read without importing it (TensorFlow stays unloaded)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(name)
    return Path(spec.origin).read_text(encoding="utf-8")


def content_cache(*modules: str) -> CachePolicy:
    """Key = task source + source of `modules` (the logic it wraps) + content of every argument."""
    code = [module_source(name) for name in modules]

    def key(_context: Any, parameters: dict[str, Any]) -> str | None:
        return hash_objects(code, stable_form(parameters), raise_on_failure=True)

    return TASK_SOURCE + CachePolicy.from_cache_key_fn(key)
