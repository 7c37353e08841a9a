"""Per-replica optimizers for the stacked engine. Each owns its state layout (created next to the
stacked weights), its reset when a slot starts a new replica, and its update step, masked so
that frozen or stopped replicas keep weights and state. TensorFlow is imported where a method
runs, so naming an optimizer in the settings loads no TensorFlow.

Adding one: a frozen dataclass with `create_state`, `reset` and `apply`, an entry in
OPTIMIZERS, and a test against the Keras optimizer of the same name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Optimizer(Protocol):
    name: str

    def create_state(self, params: list[Any]) -> dict[str, Any]: ...
    def reset(self, state: dict[str, Any], slot: int) -> None: ...
    def apply(
        self, state: dict[str, Any], params: list[Any], grads: list[Any], lr: Any, active: Any
    ) -> None: ...


def _per_replica(values: Any, rank: int) -> Any:
    """Per-replica `values` (K,) shaped to broadcast over a (K, ...) tensor of `rank` dims."""
    from lrfinder.engine.tensorflow import tf

    return tf.reshape(values, [-1] + [1] * (rank - 1))


@dataclass(frozen=True)
class Adam:
    """Keras 3's Adam: bias-corrected step size, epsilon outside the square root; each replica
    counts its own steps."""

    name: str = "adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7

    def create_state(self, params: list[Any]) -> dict[str, Any]:
        from lrfinder.engine.tensorflow import tf

        return {
            "m": [tf.Variable(tf.zeros_like(p)) for p in params],
            "v": [tf.Variable(tf.zeros_like(p)) for p in params],
            "iterations": tf.Variable(tf.zeros(params[0].shape[0])),
        }

    def reset(self, state: dict[str, Any], slot: int) -> None:
        from lrfinder.engine.tensorflow import tf

        for variable in (*state["m"], *state["v"]):
            variable[slot].assign(tf.zeros(variable.shape[1:]))
        state["iterations"][slot].assign(0.0)

    def apply(
        self, state: dict[str, Any], params: list[Any], grads: list[Any], lr: Any, active: Any
    ) -> None:
        from lrfinder.engine.tensorflow import tf

        iterations = state["iterations"]
        t = iterations + 1.0
        alpha = lr * tf.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        iterations.assign(tf.where(active, t, iterations))
        for p, m, v, g in zip(params, state["m"], state["v"], grads, strict=True):
            live = _per_replica(active, len(p.shape))
            new_m = m + (g - m) * (1.0 - self.beta_1)
            new_v = v + (tf.square(g) - v) * (1.0 - self.beta_2)
            step = _per_replica(alpha, len(p.shape))
            new_p = p - step * new_m / (tf.sqrt(new_v) + self.epsilon)
            m.assign(tf.where(live, new_m, m))
            v.assign(tf.where(live, new_v, v))
            p.assign(tf.where(live, new_p, p))


OPTIMIZERS: dict[str, Optimizer] = {"adam": Adam()}
