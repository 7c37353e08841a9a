"""Core logic of the learning-rate finder: plain functions, no orchestration.

The public API is `lrfinder.find_lr` and its result, `lrfinder.FoundRate` (imported on first use,
so that the settings and the flow load without Keras)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrfinder.finder import FoundRate, find_lr

__all__ = ["FoundRate", "find_lr"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        # By name, not an import statement: cache keys follow import statements, and the
        # package itself does not load the finder.
        return getattr(importlib.import_module("lrfinder.finder"), name)
    raise AttributeError(f"module 'lrfinder' has no attribute {name!r}")
