"""The network, described once: input width, hidden layers and output head. The engine's
compiled passes, the NumPy forward pass, the Keras export and the tests' Keras twin are all built
from a `ModelSpec`; nothing else defines a layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lrfinder.model.heads import BINARY, Head

# Hidden-layer activations by their Keras name: the engine and the export use Keras's own
# function of that name, the NumPy forward pass this one. Adding one is one entry here.
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda h: np.maximum(h, 0.0),
    "tanh": np.tanh,
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
    """An MLP: `n_features` inputs, the hidden `layers`, then a Dense output `head`."""

    n_features: int
    layers: tuple[Layer, ...]
    head: Head = BINARY

    @classmethod
    def mlp(
        cls, n_features: int, widths: tuple[int, ...], activation: str = "relu", head: Head = BINARY
    ) -> ModelSpec:
        return cls(n_features, tuple(Layer(w, activation) for w in widths), head)

    @property
    def sizes(self) -> list[int]:
        """Units per layer from the input to the head: [n_features, *widths, head units]."""
        return [self.n_features, *(layer.width for layer in self.layers), self.head.units]

    @property
    def activations(self) -> list[str]:
        """The Keras activation after each Dense layer, the head's last."""
        return [layer.activation for layer in self.layers] + [self.head.activation]
