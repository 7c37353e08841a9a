"""The engine's backend seam. Keras 3 runs the engine's `keras.ops` code on the backend that
`KERAS_BACKEND` names: `jax` (the default) or `tensorflow`. This module imports Keras on that
backend (TensorFlow quietly, see `lrfinder.engine.tensorflow`) and supplies what `keras.ops`
leaves to the backend: compiling a function and the device to run on. How replicas step on each
backend is `lrfinder.engine.steps`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrfinder.engine.backend_name import backend_name

COMPILE_CACHE = Path(
    os.environ.get("LRFINDER_COMPILE_CACHE") or Path.home() / ".cache" / "lrfinder" / "xla"
)

BACKEND = os.environ["KERAS_BACKEND"] = backend_name()
if BACKEND == "tensorflow":
    from lrfinder.engine.tensorflow import tf
else:
    # Take GPU memory as needed, as TensorFlow does here, so engines in several processes
    # (a cluster's workers) can share one GPU.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
import keras  # noqa: E402  (after the backend is set)

if BACKEND == "jax":
    import jax

    # Compiled steps are kept on disk and reused by later processes (a rerun, a cluster worker,
    # the next stage): XLA compiles each model and shape once per machine, not once per process.
    jax.config.update("jax_compilation_cache_dir", str(COMPILE_CACHE))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

if keras.backend.backend() != BACKEND:
    raise RuntimeError(
        f"Keras was imported on {keras.backend.backend()!r} before the engine set {BACKEND!r}."
    )


def compiled(fn: Callable[..., Any], donate_first: bool = False) -> Callable[..., Any]:
    """`fn` compiled with XLA for the backend: traced once per input shape, then reused. With
    `donate_first`, JAX on an accelerator reuses the first argument's buffers for the results
    (the caller must not use that argument afterwards), so large states are not held twice."""
    if BACKEND == "jax":
        import jax

        donate = (0,) if donate_first and jax.default_backend() != "cpu" else ()
        return jax.jit(fn, donate_argnums=donate)
    return tf.function(fn, jit_compile=True, autograph=False)


def gpus() -> list[Any]:
    """The GPUs the backend sees (a cluster worker sees only its own, through
    CUDA_VISIBLE_DEVICES)."""
    if BACKEND == "jax":
        import jax

        return [device for device in jax.devices() if device.platform == "gpu"]
    from lrfinder.engine.tensorflow import gpus as tf_gpus

    return tf_gpus()


def pick_device() -> str:
    """The first GPU the backend sees, else the CPU, named as `keras.device` takes it. On
    TensorFlow, a GPU's memory is grown as needed rather than all taken."""
    found = gpus()
    if BACKEND == "jax":
        return "gpu:0" if found else "cpu:0"
    for gpu in found:
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    return "/GPU:0" if found else "/CPU:0"


def to_numpy(x: Any) -> Any:
    return keras.ops.convert_to_numpy(x)


__all__ = ["BACKEND", "compiled", "gpus", "keras", "pick_device", "to_numpy"]
