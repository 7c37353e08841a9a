"""TensorFlow and Keras on it, imported without TensorFlow's native start-up chatter (see
`lrfinder.engine.quiet`)."""

from __future__ import annotations

from lrfinder.engine.quiet import quietly

with quietly():
    import keras
    import tensorflow as tf


def gpus() -> list:
    """The GPUs TensorFlow sees (probing CUDA once, quietly where there is no driver)."""
    with quietly():
        return tf.config.list_physical_devices("GPU")


__all__ = ["gpus", "keras", "tf"]
