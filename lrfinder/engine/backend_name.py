"""Which Keras backend the engine runs on, read from KERAS_BACKEND without importing Keras (for
settings checks and cache keys). Unset means TensorFlow, whatever ~/.keras/keras.json says."""

from __future__ import annotations

import os

from lrfinder.errors import SettingsError

BACKENDS = ("tensorflow", "jax")


def backend_name() -> str:
    name = os.environ.get("KERAS_BACKEND", "tensorflow")
    if name not in BACKENDS:
        raise SettingsError(
            f"KERAS_BACKEND={name!r} is not supported: the engine runs on "
            f"{' or '.join(BACKENDS)}; set KERAS_BACKEND to one of them (or unset it for "
            "tensorflow)."
        )
    return name
