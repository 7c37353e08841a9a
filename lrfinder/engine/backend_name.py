"""Which Keras backend the engine runs on, read from KERAS_BACKEND without importing Keras (for
settings checks and cache keys). Unset means JAX, whatever ~/.keras/keras.json says, unless Keras
is already imported (a notebook that built its model first): then Keras's own backend."""

from __future__ import annotations

import importlib.util
import os
import sys

from lrfinder.errors import SettingsError

BACKENDS = ("jax", "tensorflow")


def backend_name() -> str:
    """The backend KERAS_BACKEND names (unset or empty: jax), checked to be supported
    and installed."""
    name = os.environ.get("KERAS_BACKEND") or _loaded_backend() or "jax"
    if name not in BACKENDS:
        raise SettingsError(
            f"KERAS_BACKEND={name!r} is not supported: the engine runs on "
            f"{' or '.join(BACKENDS)}; set KERAS_BACKEND to one of them (or unset it for "
            "jax)."
        )
    if importlib.util.find_spec(name) is None:
        install = "pip install -e ."
        raise SettingsError(
            f"KERAS_BACKEND={name!r}, but {name} is not installed. Fix: {install}, or set "
            "KERAS_BACKEND to an installed backend."
        )
    return name


def _loaded_backend() -> str | None:
    """The backend of a Keras imported before the engine (None when not imported)."""
    keras = sys.modules.get("keras")
    try:
        return keras.backend.backend() if keras is not None else None
    except AttributeError:  # Keras half imported
        return None
