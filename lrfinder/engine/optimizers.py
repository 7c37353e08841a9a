"""Per-replica optimizers for the stacked engine, written once in `keras.ops`. Each owns its state
layout (created next to the stacked weights), its reset when a slot starts a new replica, and its
update step, masked so that frozen or stopped replicas keep weights and state. State and weights
are values in, values out, so the same code compiles on every backend. Keras is imported where a
method runs, so naming an optimizer in the settings loads no backend.

Adding one: a frozen dataclass with `init`, `reset` and `update`, an entry in OPTIMIZERS, and a
test against the Keras optimizer of the same name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

State = dict[str, Any]


class Optimizer(Protocol):
    name: str

    def init(self, params: list[Any]) -> State: ...
    def reset(self, state: State, slot: int) -> State: ...
    def update(
        self, state: State, params: list[Any], grads: list[Any], lr: Any, active: Any
    ) -> tuple[list[Any], State]: ...


def _per_replica(values: Any, rank: int) -> Any:
    """Per-replica `values` (K,) shaped to broadcast over a (K, ...) tensor of `rank` dims."""
    from lrfinder.engine.backend import keras

    return keras.ops.reshape(values, [-1] + [1] * (rank - 1))


def _zeroed(tensor: Any, slot: int) -> Any:
    """`tensor` (K, ...) with slot `slot` set to zeros."""
    from lrfinder.engine.backend import keras

    ops = keras.ops
    return ops.scatter_update(tensor, [[slot]], ops.zeros((1, *tensor.shape[1:]), tensor.dtype))


@dataclass(frozen=True)
class Adam:
    """Keras 3's Adam: bias-corrected step size, epsilon outside the square root; each replica
    counts its own steps."""

    name: str = "adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7

    def init(self, params: list[Any]) -> State:
        from lrfinder.engine.backend import keras

        ops = keras.ops
        return {
            "m": [ops.zeros_like(p) for p in params],
            "v": [ops.zeros_like(p) for p in params],
            "iterations": ops.zeros(params[0].shape[0]),
        }

    def reset(self, state: State, slot: int) -> State:
        return {name: _reset_all(value, slot) for name, value in state.items()}

    def update(
        self, state: State, params: list[Any], grads: list[Any], lr: Any, active: Any
    ) -> tuple[list[Any], State]:
        from lrfinder.engine.backend import keras

        ops = keras.ops
        iterations = state["iterations"]
        t = iterations + 1.0
        alpha = lr * ops.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        new: State = {"m": [], "v": [], "iterations": ops.where(active, t, iterations)}
        new_params = []
        for p, m, v, g in zip(params, state["m"], state["v"], grads, strict=True):
            live = _per_replica(active, len(p.shape))
            new_m = m + (g - m) * (1.0 - self.beta_1)
            new_v = v + (ops.square(g) - v) * (1.0 - self.beta_2)
            step = _per_replica(alpha, len(p.shape))
            new_p = p - step * new_m / (ops.sqrt(new_v) + self.epsilon)
            new["m"].append(ops.where(live, new_m, m))
            new["v"].append(ops.where(live, new_v, v))
            new_params.append(ops.where(live, new_p, p))
        return new_params, new


def _reset_all(value: Any, slot: int) -> Any:
    """A state entry (a tensor or a list of them) with slot `slot` zeroed."""
    return [_zeroed(v, slot) for v in value] if isinstance(value, list) else _zeroed(value, slot)


OPTIMIZERS: dict[str, Optimizer] = {"adam": Adam()}
