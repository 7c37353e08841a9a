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
    default_lr: float  # Keras's default rate: the baseline a chosen rate is compared with

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


class _SlotState:
    """Resetting a slot zeroes its entry in every state tensor (optimizers start from zeros)."""

    def reset(self, state: State, slot: int) -> State:
        return {name: _reset_all(value, slot) for name, value in state.items()}


@dataclass(frozen=True)
class Adam(_SlotState):
    """Keras 3's Adam: bias-corrected step size, epsilon outside the square root; each replica
    counts its own steps."""

    name: str = "adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    default_lr: float = 1e-3

    def init(self, params: list[Any]) -> State:
        from lrfinder.engine.backend import keras

        return {
            "m": _zeros(params),
            "v": _zeros(params),
            "iterations": keras.ops.zeros(params[0].shape[0]),
        }

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
            new_m = m + (g - m) * (1.0 - self.beta_1)
            new_v = v + (ops.square(g) - v) * (1.0 - self.beta_2)
            step = _per_replica(alpha, len(p.shape))
            new_p = p - step * new_m / (ops.sqrt(new_v) + self.epsilon)
            new["m"].append(_kept(new_m, m, active))
            new["v"].append(_kept(new_v, v, active))
            new_params.append(_kept(new_p, p, active))
        return new_params, new


@dataclass(frozen=True)
class AdamW(Adam):
    """Keras 3's AdamW: Adam after decoupled weight decay, `p -= p * weight_decay * lr` on every
    weight (biases too, as Keras does by default)."""

    name: str = "adamw"
    weight_decay: float = 0.004

    def update(
        self, state: State, params: list[Any], grads: list[Any], lr: Any, active: Any
    ) -> tuple[list[Any], State]:
        decayed = []
        for p in params:
            step = _per_replica(lr, len(p.shape))
            decayed.append(p - p * self.weight_decay * step)
        new_params, new = super().update(state, decayed, grads, lr, active)
        return [_kept(n, p, active) for n, p in zip(new_params, params, strict=True)], new


@dataclass(frozen=True)
class SGD(_SlotState):
    """Keras 3's SGD with momentum (0.9 here; Keras's own default is 0) and optional Nesterov."""

    name: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    default_lr: float = 1e-2

    def init(self, params: list[Any]) -> State:
        return {"m": _zeros(params)}

    def update(
        self, state: State, params: list[Any], grads: list[Any], lr: Any, active: Any
    ) -> tuple[list[Any], State]:
        new: State = {"m": []}
        new_params = []
        for p, m, g in zip(params, state["m"], grads, strict=True):
            step = _per_replica(lr, len(p.shape))
            new_m = m * self.momentum - g * step
            delta = new_m * self.momentum - g * step if self.nesterov else new_m
            new["m"].append(_kept(new_m, m, active))
            new_params.append(_kept(p + delta, p, active))
        return new_params, new


@dataclass(frozen=True)
class RMSprop(_SlotState):
    """Keras 3's RMSprop: a moving average of squared gradients (rho 0.9), epsilon inside the
    square root, no momentum, not centred."""

    name: str = "rmsprop"
    rho: float = 0.9
    epsilon: float = 1e-7
    default_lr: float = 1e-3

    def init(self, params: list[Any]) -> State:
        return {"v": _zeros(params)}

    def update(
        self, state: State, params: list[Any], grads: list[Any], lr: Any, active: Any
    ) -> tuple[list[Any], State]:
        from lrfinder.engine.backend import keras

        ops = keras.ops
        new: State = {"v": []}
        new_params = []
        for p, v, g in zip(params, state["v"], grads, strict=True):
            new_v = self.rho * v + (1 - self.rho) * ops.square(g)
            step = _per_replica(lr, len(p.shape))
            increment = step * g / ops.sqrt(new_v + self.epsilon)
            new["v"].append(_kept(new_v, v, active))
            new_params.append(_kept(p - increment, p, active))
        return new_params, new


def _zeros(params: list[Any]) -> list[Any]:
    """One zero tensor per weight tensor: a fresh optimizer slot for every replica."""
    from lrfinder.engine.backend import keras

    return [keras.ops.zeros_like(p) for p in params]


def _kept(new: Any, old: Any, active: Any) -> Any:
    """`new` for active replicas, `old` for frozen or stopped ones."""
    from lrfinder.engine.backend import keras

    return keras.ops.where(_per_replica(active, len(new.shape)), new, old)


def _reset_all(value: Any, slot: int) -> Any:
    """A state entry (a tensor or a list of them) with slot `slot` zeroed."""
    return [_zeroed(v, slot) for v in value] if isinstance(value, list) else _zeroed(value, slot)


OPTIMIZERS: dict[str, Optimizer] = {
    optimizer.name: optimizer for optimizer in (Adam(), AdamW(), SGD(), RMSprop())
}
