"""TensorFlow and Keras on it, imported without TensorFlow's native start-up chatter (see
`lrfinder.engine.quiet`). TensorFlow probes CUDA at its first operation, not at import: the
probe runs here too, inside the filter, so no later first operation (building a Keras model to
save it on a cached rerun, say) prints it."""

from __future__ import annotations

from lrfinder.engine.quiet import quietly

with quietly():
    import keras
    import tensorflow as tf

    _GPUS = tf.config.list_physical_devices("GPU")


def gpus() -> list:
    """The GPUs TensorFlow sees (probed once, quietly, when this module was imported)."""
    return list(_GPUS)


__all__ = ["gpus", "keras", "tf"]
