"""The network, described once: input width, hidden layers and output head. The engine's
compiled passes, the NumPy forward pass, the Keras export and the tests' Keras twin are all built
from a `ModelSpec`; nothing else defines a layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrfinder.model.heads import BINARY, Head

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _sigmoid(h: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-h))


def _elu(h: np.ndarray) -> np.ndarray:
    return np.where(h > 0, h, np.expm1(np.minimum(h, 0.0)))


def _gelu(h: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * h * (1.0 + erf(h / np.sqrt(2.0))).astype(h.dtype)


# Hidden-layer activations by their Keras name (Keras's defaults: leaky_relu's negative slope
# 0.2, exact gelu): the engine and the export use Keras's own function of that name, the NumPy
# forward pass this one. Adding one is one entry here.
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda h: np.maximum(h, 0.0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "gelu": _gelu,
    "elu": _elu,
    "selu": lambda h: SELU_SCALE * np.where(h > 0, h, SELU_ALPHA * np.expm1(np.minimum(h, 0.0))),
    "silu": lambda h: h * _sigmoid(h),
    "swish": lambda h: h * _sigmoid(h),
    "leaky_relu": lambda h: np.where(h >= 0, h, 0.2 * h),
}


@dataclass(frozen=True)
class Layer:
    """A Dense hidden layer (Glorot-uniform kernel, zero bias) and its activation."""

    width: int
    activation: str = "relu"

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"a layer needs at least one unit, got width {self.width}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation {self.activation!r} is unknown: use one of {sorted(ACTIVATIONS)}."
            )


@dataclass(frozen=True)
class ModelSpec:
    """An MLP: `n_features` inputs, the hidden `layers`, then a Dense output `head`; `l2` puts
    Keras's L2 kernel penalty (`l2 * sum(kernel**2)`, added to the loss) on every Dense kernel."""

    n_features: int
    layers: tuple[Layer, ...]
    head: Head = BINARY
    l2: float = 0.0

    @classmethod
    def mlp(
        cls,
        n_features: int,
        widths: tuple[int, ...],
        activation: str = "relu",
        head: Head = BINARY,
        l2: float = 0.0,
    ) -> ModelSpec:
        return cls(n_features, tuple(Layer(w, activation) for w in widths), head, l2)

    def penalty(self, stacked: list[Any], ops: Any = np) -> Any:
        """Each replica's L2 penalty from stacked weights [W1 (K, F, H1), b1, ...]: (K,), in
        `ops` (NumPy, or `keras.ops` inside the engine); 0 without L2."""
        if not self.l2:
            return 0.0
        kernels = stacked[0::2]
        return self.l2 * sum(ops.sum(ops.square(w), axis=(1, 2)) for w in kernels)

    @property
    def sizes(self) -> list[int]:
        """Units per layer from the input to the head: [n_features, *widths, head units]."""
        return [self.n_features, *(layer.width for layer in self.layers), self.head.units]

    @property
    def activations(self) -> list[str]:
        """The Keras activation after each Dense layer, the head's last."""
        return [layer.activation for layer in self.layers] + [self.head.activation]
