"""K replicas of a Keras model trained at once: one compiled multi-step loop around the model's own
training step (`lrfinder.engine.steps`), written once in `keras.ops`.

Replica k draws its initial variables (through the model's own initializers), its seed
generators' states and its batch order from its own seed only, and has its own rate at every step
and its own optimizer state, so it trains exactly as `model.fit` would train it alone: the same
batches (the short last batch of an epoch included), the same loss, regularization and updates.
A replica that is stopped or frozen keeps all of its state as it was."""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from lrfinder.engine import backend, interrupt
from lrfinder.engine.backend import BACKEND, keras, pick_device, to_numpy
from lrfinder.engine.recipe import ROWS_AT_ONCE, Recipe
from lrfinder.engine.steps import State, _put_slot, steps_for
from lrfinder.model.network import Network

ops = keras.ops

CHUNK_STEPS = 64


class BatchStream:
    """One replica's batches, generated as needed: a fresh permutation per epoch from `seed`,
    batches in order, the last batch of an epoch smaller (as in `model.fit`)."""

    def __init__(self, n_rows: int, batch_size: int, seed: int):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.rng = np.random.default_rng([seed, 1])
        self.batches: list[np.ndarray] = []

    def take(self, n_steps: int) -> list[np.ndarray]:
        """Row indices of the next `n_steps` batches, one array per batch."""
        while len(self.batches) < n_steps:
            order = self.rng.permutation(self.n_rows).astype("int32")
            self.batches.extend(
                np.split(order, range(self.batch_size, self.n_rows, self.batch_size))
            )
        taken, self.batches = self.batches[:n_steps], self.batches[n_steps:]
        return taken


def batch_order(
    n_rows: int, batch_size: int, seed: int, n_steps: int, start: int = 0
) -> list[np.ndarray]:
    """Row indices of the batches of steps start..start+n_steps for one replica."""
    stream = BatchStream(n_rows, batch_size, seed)
    stream.take(start)
    return stream.take(n_steps)


@dataclass
class Trace:
    """Per-step records of a training run, shape (steps run, K); NaN where a replica had stopped.
    `loss` and `accuracy` are each batch's, as Keras's `train_step` reports them;
    `batch_sizes` (steps run,) counts the rows of each step's batch."""

    loss: np.ndarray
    smoothed: np.ndarray
    val_loss: np.ndarray
    accuracy: np.ndarray
    batch_sizes: np.ndarray
    stopped_at: list[int | None] = field(default_factory=list)

    @property
    def steps_run(self) -> int:
        return self.loss.shape[0]


@dataclass(frozen=True)
class StopRule:
    """Stop a replica once its bias-corrected moving-average loss exceeds `factor` x its best
    or any loss is non-finite. `factor=inf` never stops on the ratio."""

    beta: float = 0.98
    factor: float = 4.0


@dataclass(frozen=True)
class ReplicaState:
    """One replica's whole state as NumPy arrays: the model's trainable and non-trainable
    variables (in `model.trainable_variables`, `model.non_trainable_variables` order) and the
    optimizer's variables."""

    trainable: list[np.ndarray]
    non_trainable: list[np.ndarray]
    optimizer: list[np.ndarray]

    @property
    def variables(self) -> list[np.ndarray]:
        """The model's variables, trainable first, as `network.to_keras` takes them."""
        return self.trainable + self.non_trainable


class Prepared:
    """A recipe's compiled Keras model and the engine's compiled functions, made once per
    process and shared by every engine of the recipe (weights and state are passed in and
    returned, so the backend traces once per shape)."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        model, self.initializers = _built(recipe.network)
        metrics = []
        if recipe.network.head.metric:
            metric = keras.metrics.get(recipe.network.head.metric)
            metrics.append(keras.metrics.MeanMetricWrapper(metric, name="accuracy"))
        model.compile(optimizer=recipe.optimizer.build(), loss=recipe.keras_loss(), metrics=metrics)
        n = recipe.network.n_features
        sample_weight = None if recipe.class_weight is None else np.ones(2, "float32")
        batch = (np.zeros((2, n), "float32"), np.zeros(2, "float32"))
        # What `fit` does before its first step: build the loss, the metrics and the optimizer.
        model._symbolic_build(
            data_batch=batch + (() if sample_weight is None else (sample_weight,))
        )
        self.model = model
        self.groups = (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
        )
        self.lr_index = next(
            i for i, v in enumerate(model.optimizer.variables) if v.path.endswith("learning_rate")
        )
        self.optimizer_sources = _optimizer_sources(model)
        self.optimizer_start = [to_numpy(v.value) for v in model.optimizer.variables]
        steps = steps_for(model, self.lr_index)
        self.loop = backend.compiled(_loop(steps), donate_first=True)
        self.test = backend.compiled(steps.test)
        self.predict = backend.compiled(steps.predict)
        self.draw = _drawer(self)
        self._lock = threading.Lock()
        self._traced: set = set()

    def call(self, fn: Callable, *args: Any) -> Any:
        """`fn(*args)` for a compiled function of this recipe: the first call of each shape (or
        every call on TensorFlow, whose steps run through the model's variables) holds the lock,
        so threads never trace or run one model at once."""
        signature = (id(fn), *(getattr(a, "shape", None) for a in _leaves(args)))
        if BACKEND == "jax" and signature in self._traced:
            return fn(*args)
        with self._lock:
            result = fn(*args)
            self._traced.add(signature)
            return result


@cache
def prepared(recipe: Recipe) -> Prepared:
    return Prepared(recipe)


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    if isinstance(tree, list | tuple):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [tree]


def _built(network: Network) -> tuple[keras.Model, list[Any]]:
    """The network's model and the initializer of each variable (`model.variables` order). The
    default network is built in a stateless scope, where Keras keeps each new variable's
    initializer until the scope ends; a loaded model's are read from a copy (see
    `_initializers`)."""
    if network.model_file is not None:
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


def _drawer(prepared: Prepared) -> Callable[[list[int]], State]:
    """A function of seeds that draws each replica's initial state: every variable from the
    model's own initializer with a seed of its own (replica seed, variable index), seed
    generators from the replica seed, and the optimizer's starting values. On JAX all replicas
    are drawn in one vectorized call."""
    model = prepared.model
    index = {id(v): i for i, v in enumerate(model.variables)}
    order = [[index[id(v)] for v in group] for group in prepared.groups[:2]]
    shapes = [(tuple(v.shape), v.dtype, v.path) for v in model.variables]

    def one(seed: Any, key_of: Callable[[Any, int], Any]) -> list[Any]:
        values = []
        for i, (initializer, (shape, dtype, path)) in enumerate(
            zip(prepared.initializers, shapes, strict=True)
        ):
            key = key_of(seed, i)
            if path.endswith("seed_generator_state"):
                values.append(ops.cast(ops.stack([key[0], key[1] * 0]), dtype))
                continue
            if hasattr(initializer, "seed"):
                initializer = copy.copy(initializer)
                initializer.seed = key if BACKEND == "jax" else int(key[0])
            values.append(ops.broadcast_to(ops.cast(initializer(shape, dtype=dtype), dtype), shape))
        return values

    def arrange(values: list[Any], k: int) -> State:
        trainable = [values[i] for i in order[0]]
        optimizer = [
            trainable[prepared.optimizer_sources[j]]
            if j in prepared.optimizer_sources
            else ops.broadcast_to(ops.convert_to_tensor(start), (k, *start.shape))
            for j, start in enumerate(prepared.optimizer_start)
        ]
        return trainable, [values[i] for i in order[1]], optimizer

    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        def jax_key(seed: Any, i: int) -> Any:
            key = jax.random.fold_in(jnp.stack([seed, jnp.uint32(0)]), i)
            return jax.random.bits(key, (2,), "uint32")

        vectorized = jax.jit(jax.vmap(lambda seed: one(seed, jax_key)))

        def draw(seeds: list[int]) -> State:
            values = vectorized(np.asarray(seeds, "uint32"))
            return arrange(list(values), len(seeds))

        return draw

    def host_key(seed: int, i: int) -> np.ndarray:
        return np.random.default_rng([seed, i, 3]).integers(0, 2**31 - 1, 2)

    def draw_each(seeds: list[int]) -> State:
        per_replica = [one(seed, host_key) for seed in seeds]
        stacked = [ops.stack(list(values)) for values in zip(*per_replica, strict=True)]
        return arrange(stacked, len(seeds))

    return draw_each


def _loop(steps: Any) -> Callable:
    """The compiled loop: up to `chunk["n_valid"]` steps of every replica that is active and
    runs at that step (`chunk["run"]`); chunk index (S, K, B), run and lrs (S, K).

    Returns the new state, the records (per-step loss, smoothed loss, validation loss, batch
    accuracy (NaN where a replica did not step), and whether each replica is still active, each
    (S, K), valid up to `records["steps"]`) and the carried state (active, ema, best, count)."""

    def run(state: State, data: dict, chunk: dict, carry: dict) -> tuple:
        index, lrs, runs = chunk["index"], chunk["lrs"], chunk["run"]
        beta, factor = chunk["beta"], chunk["factor"]
        n_steps, k = index.shape[0], carry["active"].shape[0]
        nan = ops.full([k], float("nan"))
        blank = ops.full([n_steps, k], float("nan"))
        measure_val = data["x_val"].shape[0] != 0

        def put(record: Any, step: Any, values: Any) -> Any:
            return ops.slice_update(record, [step, 0], values[None, :])

        def body(step, state, active, ema, best, count, records):
            rows = index[step]
            weight = None if "w" not in data else ops.take(data["w"], rows, axis=0)
            new, (losses, accuracy) = steps.train(
                state,
                ops.take(data["x"], rows, axis=0),
                ops.take(data["y"], rows, axis=0),
                weight,
                lrs[step],
            )
            stepped = active & runs[step]
            state = _kept(new, state, stepped)
            count = count + ops.cast(stepped, "float32")
            ema = ops.where(stepped, beta * ema + (1.0 - beta) * losses, ema)
            smoothed = ema / (1.0 - beta**count)
            best = ops.where(stepped, ops.minimum(best, smoothed), best)
            records = dict(records)
            records["loss"] = put(records["loss"], step, ops.where(stepped, losses, nan))
            records["smoothed"] = put(records["smoothed"], step, ops.where(stepped, smoothed, nan))
            records["accuracy"] = put(records["accuracy"], step, ops.where(stepped, accuracy, nan))
            if measure_val:
                val = ops.cond(
                    (chunk["step0"] + step + 1) % chunk["val_every"] == 0,
                    lambda: ops.where(
                        stepped,
                        steps.test(state, data["x_val"], data["y_val"], data.get("w_val"))[0],
                        nan,
                    ),
                    lambda: nan,
                )
                records["val_loss"] = put(records["val_loss"], step, val)
            broken = ~ops.isfinite(losses) | ~ops.isfinite(smoothed) | (smoothed > factor * best)
            active = active & ~(stepped & broken)
            records["alive"] = put(records["alive"], step, active)
            return step + 1, state, active, ema, best, count, records

        def more(step, state, active, *_):
            return ops.logical_and(step < chunk["n_valid"], ops.any(active))

        records = {name: blank for name in ("loss", "smoothed", "val_loss", "accuracy")}
        records["alive"] = ops.zeros([n_steps, k], "bool")
        initial = (
            ops.convert_to_tensor(0, "int32"),
            state,
            carry["active"],
            carry["ema"],
            carry["best"],
            carry["count"],
            records,
        )
        step, state, active, ema, best, count, records = ops.while_loop(more, body, initial)
        records["steps"] = step
        return state, records, {"active": active, "ema": ema, "best": best, "count": count}

    return run


def _kept(new: State, old: State, stepped: Any) -> State:
    """`new` for the replicas that stepped, `old` (all of it) for the others."""

    def pick(n: Any, o: Any) -> Any:
        mask = ops.reshape(stepped, [-1] + [1] * (len(o.shape) - 1))
        return ops.where(mask, ops.cast(n, o.dtype), o)

    return tuple(
        [pick(n, o) for n, o in zip(new_group, old_group, strict=True)]
        for new_group, old_group in zip(new, old, strict=True)
    )


class Replicas:
    """K replicas of the recipe's Keras model on one device, trained together; the replica in
    slot k uses `seeds[k]` (its initial variables and batch order)."""

    def __init__(self, recipe: Recipe, seeds: list[int], device: str | None = None):
        self.recipe = recipe
        self.prepared = prepared(recipe)
        self.batch_size = recipe.batch_size
        self.seeds = list(seeds)
        self.device = device or pick_device()
        with keras.device(self.device):
            self.state: State = self.prepared.draw(self.seeds)
        self.streams: list[BatchStream | None] = [None] * len(self.seeds)
        self._data: tuple[tuple, dict] | None = None

    @property
    def k(self) -> int:
        return len(self.seeds)

    def load(self, slot: int, seed: int) -> None:
        """Start a new replica in `slot`: fresh state from `seed`, its own batch order."""
        with keras.device(self.device):
            fresh = self.prepared.draw([seed])
            one = tuple([value[0] for value in group] for group in fresh)
            self.state = _put_slot(self.state, slot, one)
        self.seeds[slot] = seed
        self.streams[slot] = None

    def replica_state(self, slot: int) -> ReplicaState:
        """The whole state of the replica in `slot`, as NumPy arrays."""
        return ReplicaState(*([to_numpy(v[slot]) for v in group] for group in self.state))

    def states(self) -> list[ReplicaState]:
        """Every slot's state (one transfer per variable)."""
        groups = [[to_numpy(v) for v in group] for group in self.state]
        return [ReplicaState(*([v[k] for v in group] for group in groups)) for k in range(self.k)]

    def _batches(self, k: int, n_rows: int, n_steps: int) -> list[np.ndarray]:
        stream = self.streams[k]
        if stream is None:
            stream = self.streams[k] = BatchStream(n_rows, self.batch_size, self.seeds[k])
        elif stream.n_rows != n_rows:
            raise ValueError(
                f"replica {k} trained on {stream.n_rows} rows and now gets {n_rows}: a replica "
                "continues on the same data; load() a fresh one for other data."
            )
        return stream.take(n_steps)

    def train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        lrs: np.ndarray,
        stop: StopRule | None = None,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        val_every: int = 1,
        on_progress: Callable[[int, int, int], None] | None = None,
        active: np.ndarray | None = None,
    ) -> Trace:
        """Train every replica for `len(lrs)` steps at per-step, per-replica rates `lrs` (S, K);
        a later call continues where this one ended (state and batch order).

        With a StopRule, a replica stops when its smoothed loss diverges; the run ends early
        when all have stopped. `active` (K bools) freezes the replicas marked False from the
        start; they draw no batches. `on_progress(steps_done, steps_total, replicas_active)`.
        """
        lrs = np.asarray(lrs, dtype="float32")
        if lrs.ndim == 1:
            lrs = np.repeat(lrs[:, None], self.k, axis=1)
        total = lrs.shape[0]
        stop = stop or StopRule(factor=math.inf)
        live = np.ones(self.k, bool) if active is None else np.asarray(active, bool)
        data = self._on_device(x, y, x_val, y_val)
        with keras.device(self.device):
            carry = {
                "active": ops.convert_to_tensor(live),
                "ema": ops.zeros(self.k),
                "best": ops.full([self.k], float("inf")),
                "count": ops.zeros(self.k),
            }
        stopped_at: list[int | None] = [None] * self.k
        parts: list[tuple[np.ndarray, ...]] = []
        sizes: list[int] = []
        done = 0
        while done < total and live.any():
            interrupt.check()
            n = min(CHUNK_STEPS, total - done)
            batches = [self._batches(k, len(x), n) if on else None for k, on in enumerate(live)]
            first = next(b for b in batches if b is not None)
            records, carry, ran = self._run_chunk(
                batches, lrs[done : done + n], data, carry, stop, done, val_every
            )
            sizes.extend(len(rows) for rows in first[:ran])
            parts.append(
                tuple(records[name][:ran] for name in ("loss", "smoothed", "val_loss", "accuracy"))
            )
            for step, k in zip(*np.nonzero(~records["alive"][:ran]), strict=True):
                if stopped_at[k] is None:
                    stopped_at[k] = done + int(step)
            live = to_numpy(carry["active"])
            done += ran
            if on_progress:
                on_progress(done, total, int(live.sum()))
        loss, smooth, val, accuracy = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return Trace(loss, smooth, val, accuracy, np.array(sizes[:done]), stopped_at)

    def _run_chunk(
        self,
        batches: list[list[np.ndarray] | None],
        lrs: np.ndarray,
        data: dict,
        carry: dict,
        stop: StopRule,
        done: int,
        val_every: int,
    ) -> tuple[dict, dict, int]:
        """The chunk's steps in as few compiled calls as batch shapes allow: runs of steps where
        every replica has a full batch go in one call; a step where some replica has a shorter
        batch (an epoch's last) runs once per batch size, each replica in the call of its size.
        Returns the chunk's records (NumPy, (n, K)), the carry and the steps run."""
        n = lrs.shape[0]
        sizes = np.array(
            [[len(b[s]) if b is not None else self.batch_size for b in batches] for s in range(n)]
        )
        full = (sizes == self.batch_size).all(axis=1)
        records = {
            name: np.full((n, self.k), np.nan)
            for name in ("loss", "smoothed", "val_loss", "accuracy")
        }
        records["alive"] = np.ones((n, self.k), bool)
        step = 0
        while step < n:
            if full[step]:
                end = step + int(np.argmin(full[step:])) if not full[step:].all() else n
                calls = [(range(step, end), self.batch_size, np.ones((end - step, self.k), bool))]
            else:
                end = step + 1
                calls = [
                    (range(step, end), size, (sizes[step] == size)[None, :])
                    for size in np.unique(sizes[step])
                ]
            for steps, size, runs in calls:
                got, carry, ran = self._call(
                    batches, steps, size, runs, lrs, data, carry, stop, done, val_every
                )
                for name, values in got.items():
                    window = records[name][steps.start : steps.start + ran]
                    if name == "alive":
                        window &= values[:ran]
                    else:
                        np.copyto(window, values[:ran], where=~np.isnan(values[:ran]))
                if ran < len(steps):
                    return records, carry, steps.start + ran
            step = end
        return records, carry, n

    def _call(
        self,
        batches,
        steps: range,
        size: int,
        runs: np.ndarray,
        lrs,
        data,
        carry,
        stop,
        done,
        val_every,
    ):
        """One compiled call over `steps` with batches of `size` rows for the replicas in `runs`."""
        length = CHUNK_STEPS if size == self.batch_size else 1
        index = np.zeros((length, self.k, size), "int32")
        run = np.zeros((length, self.k), bool)
        chunk_lrs = np.zeros((length, self.k), "float32")
        for i, s in enumerate(steps):
            for k, b in enumerate(batches):
                if b is not None and runs[i, k]:
                    index[i, k] = b[s]
            run[i] = runs[i] & np.array([b is not None for b in batches])
            chunk_lrs[i] = lrs[s]
        with keras.device(self.device):
            chunk = {
                "index": ops.convert_to_tensor(index),
                "run": ops.convert_to_tensor(run),
                "lrs": ops.convert_to_tensor(chunk_lrs),
                "n_valid": ops.convert_to_tensor(len(steps), "int32"),
                "val_every": ops.convert_to_tensor(max(val_every, 1), "int32"),
                "step0": ops.convert_to_tensor(done + steps.start, "int32"),
                "beta": ops.convert_to_tensor(stop.beta, "float32"),
                "factor": ops.convert_to_tensor(stop.factor, "float32"),
            }
            state = self.state
            # The loop may take over the state's buffers (JAX on a GPU donates them).
            self.state = None
            state, records, carry = self.prepared.call(
                self.prepared.loop, state, data, chunk, carry
            )
        self.state = state
        ran = int(to_numpy(records["steps"]))
        got = {
            name: to_numpy(records[name])
            for name in ("loss", "smoothed", "val_loss", "accuracy", "alive")
        }
        return got, carry, ran

    def _on_device(
        self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None
    ) -> dict:
        """The training rows (padded, see `_pad_rows`) and validation rows as device tensors,
        made once for as long as the same arrays come back (every epoch of a fit)."""
        arrays = (x, y, x_val, y_val)
        if self._data is not None and all(
            a is b for a, b in zip(self._data[0], arrays, strict=True)
        ):
            return self._data[1]
        no_val = x_val is None or len(x_val) == 0
        x_val = np.zeros((0, x.shape[1]), "float32") if no_val else x_val
        y_val = np.zeros(0, "float32") if no_val else y_val
        with keras.device(self.device):
            data = {
                "x": ops.convert_to_tensor(_pad_rows(np.asarray(x, "float32"))),
                "y": ops.convert_to_tensor(_pad_rows(np.asarray(y, "float32"))),
                "x_val": ops.convert_to_tensor(np.asarray(x_val, "float32")),
                "y_val": ops.convert_to_tensor(np.asarray(y_val, "float32")),
            }
            if self.recipe.class_weight is not None:
                data["w"] = ops.convert_to_tensor(_pad_rows(self.recipe.row_weights(y)))
                data["w_val"] = ops.convert_to_tensor(
                    self.recipe.row_weights(y_val) if len(y_val) else np.zeros(0, "float32")
                )
        self._data = (arrays, data)
        return data

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each replica's loss (with regularization, as Keras's `evaluate` reports it; class
        weights applied as in training) and accuracy on (x, y): (K,) each."""
        weights = self.recipe.row_weights(y)
        totals = np.zeros((2, self.k))
        for start in range(0, len(x), ROWS_AT_ONCE):
            rows = slice(start, start + ROWS_AT_ONCE)
            interrupt.check()
            with keras.device(self.device):
                loss, accuracy = self.prepared.call(
                    self.prepared.test,
                    self.state,
                    ops.convert_to_tensor(np.asarray(x[rows], "float32")),
                    ops.convert_to_tensor(np.asarray(y[rows], "float32")),
                    None if weights is None else ops.convert_to_tensor(weights[rows]),
                )
            totals += np.stack([to_numpy(loss), to_numpy(accuracy)]) * len(x[rows])
        return totals[0] / max(len(x), 1), totals[1] / max(len(x), 1)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Every replica's model outputs on x: (K, N, units)."""
        return predict_outputs(self.prepared, self.state, x, self.device)


def predict_outputs(
    prepared_recipe: Prepared, state: State, x: np.ndarray, device: str | None = None
) -> np.ndarray:
    """Model outputs (K, N, units) of the replicas in a stacked `state`, ROWS_AT_ONCE rows at a
    time, in inference mode."""
    parts = []
    with keras.device(device or pick_device()):
        for start in range(0, max(len(x), 1), ROWS_AT_ONCE):
            interrupt.check()
            rows = ops.convert_to_tensor(np.asarray(x[start : start + ROWS_AT_ONCE], "float32"))
            parts.append(to_numpy(prepared_recipe.call(prepared_recipe.predict, state, rows)))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def predict(recipe: Recipe, states: list[ReplicaState], x: np.ndarray) -> np.ndarray:
    """The head's predictions of each replica state on x: (K, N) or (K, N, classes)."""
    stacked = (
        [
            ops.convert_to_tensor(np.stack(v))
            for v in zip(*(s.trainable for s in states), strict=True)
        ],
        [
            ops.convert_to_tensor(np.stack(v))
            for v in zip(*(s.non_trainable for s in states), strict=True)
        ],
        [],
    )
    outputs = predict_outputs(prepared(recipe), stacked, x)
    return recipe.network.head.predict(outputs)


def _pad_rows(a: np.ndarray) -> np.ndarray:
    """`a` with zero rows appended up to the next power of two: batches only gather real rows,
    and data sets of similar size (train, train + validation) share one compiled loop."""
    rows = 1 << max(len(a) - 1, 0).bit_length()
    return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]), a.dtype)])
