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
    """A Dense hidden layer (Glorot-uniform kernel, zero bias), its activation, and the share of
    its units dropped in training (`dropout`, a Dropout layer after it; 0 for none)."""

    width: int
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"a layer needs at least one unit, got width {self.width}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation {self.activation!r} is unknown: use one of {sorted(ACTIVATIONS)}."
            )


@dataclass(frozen=True)
class ModelSpec:
    """An MLP: `n_features` inputs, the hidden `layers`, then a Dense output `head`; `l2` holds
    Keras's L2 kernel factor of each Dense layer, the head's last (`factor * sum(kernel**2)`,
    added to the loss); empty for none."""

    n_features: int
    layers: tuple[Layer, ...]
    head: Head = BINARY
    l2: tuple[float, ...] = ()
    # A user's Keras model's layers (lrfinder.model.keras_file.Piece), kept for the export.
    pieces: tuple = ()

    @classmethod
    def mlp(
        cls,
        n_features: int,
        widths: tuple[int, ...],
        activation: str = "relu",
        head: Head = BINARY,
        l2: float = 0.0,
        dropout: float = 0.0,
    ) -> ModelSpec:
        layers = tuple(Layer(w, activation, dropout) for w in widths)
        return cls(n_features, layers, head, (l2,) * (len(widths) + 1) if l2 else ())

    @property
    def has_dropout(self) -> bool:
        return any(layer.dropout for layer in self.layers)

    def penalty(self, stacked: list[Any], ops: Any = np) -> Any:
        """Each replica's L2 penalty from stacked weights [W1 (K, F, H1), b1, ...]: (K,), in
        `ops` (NumPy, or `keras.ops` inside the engine); 0 without L2."""
        terms = [
            factor * ops.sum(ops.square(kernel), axis=(1, 2))
            for factor, kernel in zip(self.l2, stacked[0::2], strict=True)
            if factor
        ]
        return sum(terms) if terms else 0.0

    def kernel_l2(self, index: int) -> float:
        """The L2 factor of Dense layer `index` (the head is the last), 0 for none."""
        return self.l2[index] if self.l2 else 0.0

    @property
    def sizes(self) -> list[int]:
        """Units per layer from the input to the head: [n_features, *widths, head units]."""
        return [self.n_features, *(layer.width for layer in self.layers), self.head.units]

    @property
    def activations(self) -> list[str]:
        """The Keras activation after each Dense layer, the head's last."""
        return [layer.activation for layer in self.layers] + [self.head.activation]
