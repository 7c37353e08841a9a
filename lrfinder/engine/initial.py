"""Each replica's initial state, drawn from its seed through the model's own initializers: every
variable with a seed of its own (replica seed, variable index), the seed generators of Dropout
and noise layers from the replica seed, and the optimizer's starting values."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from lrfinder.engine.backend import BACKEND, keras, to_numpy
from lrfinder.engine.steps import State
from lrfinder.model.network import Network

ops = keras.ops


def built(network: Network) -> tuple[keras.Model, list[Any]]:
    """The network's model and the initializer of each variable (`model.variables` order). The
    default network is built in a stateless scope, where Keras keeps each new variable's
    initializer until the scope ends; a given model's are read from a copy (see
    `_initializers`)."""
    if not network.is_default:
        model = network.build()
        return model, _initializers(model)
    with keras.StatelessScope():
        model = network.build()
        initializers = [v._initializer for v in model.variables]
    return model, initializers


def _initializers(model: keras.Model) -> list[Any]:
    """The initializer of each variable in `model.variables` order, read from a copy of the model
    built in a stateless scope (where Keras keeps each variable's initializer uninitialized)."""
    with keras.StatelessScope(initialize_variables=False):
        twin = keras.models.clone_model(model)
    shapes = [tuple(v.shape) for v in model.variables]
    if [tuple(v.shape) for v in twin.variables] != shapes:
        raise ValueError("the model's copy has other variables than the model: cannot draw them.")
    return [v._initializer for v in twin.variables]


def _optimizer_sources(model: keras.Model) -> dict[int, int]:
    """Optimizer variables that start as a copy of a trainable variable (ScheduleFreeAdamW's
    momentum): optimizer index -> trainable index. Each replica's copy starts from its own."""
    found = {}
    trainable = [to_numpy(v.value) for v in model.trainable_variables]
    for j, variable in enumerate(model.optimizer.variables):
        value = to_numpy(variable.value)
        for i, weights in enumerate(trainable):
            if value.shape == weights.shape and np.any(weights) and np.array_equal(value, weights):
                found[j] = i
    return found


def drawer(model: keras.Model, initializers: list[Any]) -> Callable[[list[int]], State]:
    """A function of seeds that draws each replica's initial state: every variable from the
    model's own initializer with a seed of its own (replica seed, variable index), seed
    generators from the replica seed, and the optimizer's starting values. On JAX all replicas
    are drawn in one vectorized call."""
    index = {id(v): i for i, v in enumerate(model.variables)}
    groups = (model.trainable_variables, model.non_trainable_variables)
    order = [[index[id(v)] for v in group] for group in groups]
    sources = _optimizer_sources(model)
    start = [to_numpy(v.value) for v in model.optimizer.variables]
    shapes = [(tuple(v.shape), v.dtype, v.path) for v in model.variables]

    def one(seed: Any, key_of: Callable[[Any, int], Any]) -> State:
        """One replica's state: (trainable, non-trainable, optimizer) lists."""
        values = []
        for i, (initializer, (shape, dtype, path)) in enumerate(
            zip(initializers, shapes, strict=True)
        ):
            key = key_of(seed, i)
            if path.endswith("seed_generator_state"):
                values.append(ops.cast(ops.stack([key[0], key[1] * 0]), dtype))
                continue
            if hasattr(initializer, "seed"):
                initializer = copy.copy(initializer)
                initializer.seed = key if BACKEND == "jax" else int(key[0])
            values.append(ops.broadcast_to(ops.cast(initializer(shape, dtype=dtype), dtype), shape))
        trainable = [values[i] for i in order[0]]
        optimizer = [
            trainable[sources[j]] if j in sources else ops.convert_to_tensor(value)
            for j, value in enumerate(start)
        ]
        return trainable, [values[i] for i in order[1]], optimizer

    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        def jax_key(seed: Any, i: int) -> Any:
            key = jax.random.fold_in(jnp.stack([seed, jnp.uint32(0)]), i)
            return jax.random.bits(key, (2,), "uint32")

        # The optimizer's starting values (constants per replica) are broadcast on the device.
        vectorized = jax.jit(jax.vmap(lambda seed: one(seed, jax_key)))

        def draw(seeds: list[int]) -> State:
            return tuple(list(group) for group in vectorized(np.asarray(seeds, "uint32")))

        return draw

    def host_key(seed: int, i: int) -> np.ndarray:
        return np.random.default_rng([seed, i, 3]).integers(0, 2**31 - 1, 2)

    def draw_each(seeds: list[int]) -> State:
        per_replica = [one(seed, host_key) for seed in seeds]
        return tuple(
            [ops.stack(list(values)) for values in zip(*groups, strict=True)]
            for groups in zip(*per_replica, strict=True)
        )

    return draw_each
