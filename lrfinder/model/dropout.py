"""Dropout masks from a counter-based hash: whether unit u of batch row b in dropout layer l is
kept at replica step t is a pure function of (the replica's seed, t, l, b, u). So every replica
draws its own stream from its seed alone (replica k of a group drops as it would alone), the
engine computes masks inside its compiled loop on any backend, and a test can replay them
through Keras. Integer arithmetic wraps around in 32 bits alike in NumPy, TensorFlow (XLA) and
JAX; `xp` is the array namespace (`numpy`, or `keras.ops` in the engine)."""

from __future__ import annotations

from typing import Any

# Odd multipliers below 2**31 (int32-safe): one per coordinate, two for the final mixing.
COORDINATES = (0x1B873593, 0x5BD1E995, 0x68E31DA5, 0x3C6EF373, 0x2C1B3C6D)
MIX = (0x297A2D39, 0x7FEB352D)


def uniform(xp: Any, seed: Any, step: Any, layer: int, rows: int, units: int) -> Any:
    """Uniform [0, 1) numbers for every (replica, row, unit): seed and step (K,) int32 ->
    (K, rows, units) float32."""
    row = xp.reshape(xp.arange(rows, dtype="int32"), (1, rows, 1))
    unit = xp.reshape(xp.arange(units, dtype="int32"), (1, 1, units))
    seed = xp.reshape(seed, (-1, 1, 1))
    step = xp.reshape(step, (-1, 1, 1))
    a, b, c, d, e = COORDINATES
    h = seed * a
    h = xp.bitwise_xor(h, step * b)
    h = xp.bitwise_xor(h, xp.bitwise_xor(row * c + _int32(layer * e), unit * d))
    for multiplier in MIX:
        h = xp.bitwise_xor(h, xp.right_shift(h, 15))
        h = h * multiplier
    h = xp.bitwise_xor(h, xp.right_shift(h, 16))
    low = xp.bitwise_and(h, 0xFFFFFF)
    as_float = xp.cast(low, "float32") if hasattr(xp, "cast") else low.astype("float32")
    return as_float / 16777216.0


def _int32(value: int) -> int:
    """A Python integer wrapped into int32's range, as the array arithmetic wraps."""
    return (value + 2**31) % 2**32 - 2**31


def as_seed(seed: int) -> int:
    """A replica seed as the int32 the masks are drawn from (seeds of any size)."""
    return _int32(seed)


def keep(xp: Any, seed: Any, step: Any, layer: int, rows: int, units: int, rate: float) -> Any:
    """True where a unit is kept (probability 1 - rate): (K, rows, units)."""
    return uniform(xp, seed, step, layer, rows, units) >= rate


def apply(xp: Any, h: Any, kept: Any, rate: float) -> Any:
    """Inverted dropout, as Keras: kept units scaled by 1 / (1 - rate), the others zero."""
    return xp.where(kept, h / (1.0 - rate), 0.0)
