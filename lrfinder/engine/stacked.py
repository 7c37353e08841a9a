"""K replicas of a network trained at once: stacked weights and one compiled multi-step loop,
written once in `keras.ops` and compiled for the backend Keras runs on (`engine.backend`).

Semantics follow Keras: the `ModelSpec`'s Dense layers with Glorot-uniform kernels and zero
biases, the head's loss computed from the logits, the batch mean as the loss, and the recipe's
optimizer stepping each replica on its own. Replica k draws its initial weights and its batch
order from its own seed only, so it trains exactly as it would alone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import numpy as np

from lrfinder.engine import backend, interrupt
from lrfinder.engine.backend import keras, pick_device, to_numpy
from lrfinder.engine.optimizers import Optimizer
from lrfinder.engine.recipe import Recipe
from lrfinder.model import dropout
from lrfinder.model.forward import by_rows
from lrfinder.model.spec import ModelSpec

ops = keras.ops

CHUNK_STEPS = 64


def glorot_init(sizes: list[int], seed: int) -> list[np.ndarray]:
    """Keras-order weights [W1, b1, W2, b2, ...] for one replica, drawn from `seed` alone."""
    rng = np.random.default_rng([seed, 0])
    weights = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        weights.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype("float32"))
        weights.append(np.zeros(fan_out, dtype="float32"))
    return weights


class BatchStream:
    """One replica's batches, generated as needed: a fresh permutation per epoch from `seed`,
    batches in order, the last batch of an epoch smaller (as in `model.fit`). Batches come as
    rows of a padded index matrix (padding: row 0 at weight 0), a whole epoch per array
    operation, so that preparing thousands of replicas' steps stays cheap."""

    def __init__(self, n_rows: int, batch_size: int, seed: int):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.rng = np.random.default_rng([seed, 1])
        self.index = np.zeros((0, batch_size), "int32")
        self.weight = np.zeros((0, batch_size), "float32")

    def _add_epoch(self) -> None:
        per_epoch = -(-self.n_rows // self.batch_size)
        index = np.zeros(per_epoch * self.batch_size, "int32")
        weight = np.zeros(per_epoch * self.batch_size, "float32")
        index[: self.n_rows] = self.rng.permutation(self.n_rows)
        weight[: self.n_rows] = 1.0
        shape = (per_epoch, self.batch_size)
        self.index = np.concatenate([self.index, index.reshape(shape)])
        self.weight = np.concatenate([self.weight, weight.reshape(shape)])

    def take_padded(self, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices and row weights (1 real, 0 padding) of the next `n_steps` batches,
        (n_steps, batch_size) each."""
        while len(self.index) < n_steps:
            self._add_epoch()
        taken = self.index[:n_steps], self.weight[:n_steps]
        self.index, self.weight = self.index[n_steps:], self.weight[n_steps:]
        return taken

    def take(self, n_steps: int) -> list[np.ndarray]:
        """Row indices of the next `n_steps` batches, one array per batch."""
        index, weight = self.take_padded(n_steps)
        return [rows[w > 0] for rows, w in zip(index, weight, strict=True)]


def stacked_init(sizes: list[int], seeds: list[int]) -> list[np.ndarray]:
    """`glorot_init` of every seed, stacked per layer: (K, ...) arrays in Keras order."""
    per_replica = [glorot_init(sizes, seed) for seed in seeds]
    return [np.stack(layer) for layer in zip(*per_replica, strict=True)]


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
    `loss` and `accuracy` are each batch's, measured as it trains (as Keras's History averages
    them); `batch_sizes` (steps run,) counts the rows of each step's batch."""

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


def _logits(spec: ModelSpec, params: list[Any], x: Any, noise: dict | None = None) -> Any:
    """x: (K, B, F) per replica or (B, F) shared by all -> head logits (K, B, units). With
    `noise` (each replica's seed and step count, in training) the layers' dropout applies."""
    h = x
    for layer, activation in enumerate(spec.activations):
        pattern = "kbi,kio->kbo" if len(h.shape) == 3 else "bi,kio->kbo"
        h = ops.einsum(pattern, h, params[2 * layer]) + params[2 * layer + 1][:, None, :]
        if layer < len(spec.layers):
            h = keras.activations.get(activation)(h)
            rate = spec.layers[layer].dropout
            if noise is not None and rate:
                rows, units = h.shape[1], h.shape[2]
                kept = dropout.keep(ops, noise["seed"], noise["step"], layer, rows, units, rate)
                h = dropout.apply(ops, h, kept, rate)
    return h


def _run_steps(
    spec: ModelSpec, optimizer: Optimizer, state: dict, data: dict, chunk: dict, carry: dict
) -> tuple[dict, dict, dict]:
    """Run up to `chunk["n_valid"]` steps; chunk index and weight (S, K, B), lrs (S, K).

    Returns the new state (weights and optimizer state), the records (per-step loss, smoothed
    loss, validation loss (NaN where not measured or the replica had stopped), batch accuracy
    and whether each replica is still active, each (S, K), valid up to `records["steps"]`) and
    the carried state (active, ema, best, count)."""
    index, weight, lrs = chunk["index"], chunk["weight"], chunk["lrs"]
    beta, factor = chunk["beta"], chunk["factor"]
    n_steps, k = index.shape[0], carry["active"].shape[0]
    nan = ops.full([k], float("nan"))
    blank = ops.full([n_steps, k], float("nan"))
    measure_val = data["x_val"].shape[0] != 0

    def put(record: Any, step: Any, values: Any) -> Any:
        return ops.slice_update(record, [step, 0], values[None, :])

    def body(step, state, active, ema, best, count, records):
        yb = ops.take(data["y"], index[step], axis=0)
        state, losses, accuracy = _train_step(
            spec,
            optimizer,
            state,
            ops.take(data["x"], index[step], axis=0),
            yb,
            weight[step],
            _class_weights_of(data, yb),
            lrs[step],
            active,
        )
        count = count + ops.cast(active, "float32")
        ema = ops.where(active, beta * ema + (1.0 - beta) * losses, ema)
        smoothed = ema / (1.0 - beta**count)
        best = ops.where(active, ops.minimum(best, smoothed), best)
        records = dict(records)
        records["loss"] = put(records["loss"], step, ops.where(active, losses, nan))
        records["smoothed"] = put(records["smoothed"], step, ops.where(active, smoothed, nan))
        records["accuracy"] = put(records["accuracy"], step, ops.where(active, accuracy, nan))
        if measure_val:
            val = ops.cond(
                (chunk["step0"] + step + 1) % chunk["val_every"] == 0,
                lambda: ops.where(
                    active,
                    _val_loss(
                        spec,
                        state["params"],
                        data["x_val"],
                        data["y_val"],
                        _class_weights_of(data, data["y_val"]),
                    ),
                    nan,
                ),
                lambda: nan,
            )
            records["val_loss"] = put(records["val_loss"], step, val)
        finite = ops.isfinite(losses) & ops.isfinite(smoothed)
        active = active & finite & ~(smoothed > factor * best)
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


def _train_step(
    spec: ModelSpec,
    optimizer: Optimizer,
    state: dict,
    xb: Any,
    yb: Any,
    weight: Any,
    class_weights: Any,
    lr: Any,
    active: Any,
) -> tuple[dict, Any, Any]:
    """One optimizer step of every active replica; returns the new state (weights, optimizer
    state, dropout step counts) and each replica's batch loss and batch accuracy, both (K,).
    `class_weights`: each row's class weight (K, B), or None."""
    noise = state.get("noise")

    def objective(params: list[Any]) -> tuple[Any, tuple[Any, Any]]:
        logits = _logits(spec, params, xb, noise)
        loss = _head_loss(spec, logits, yb, weight, class_weights)
        losses = _with_penalty(spec, loss, params)
        return ops.sum(losses), (losses, logits)

    (_, (losses, logits)), grads = backend.value_and_grad(objective)(state["params"])
    hits = spec.head.batch_hits(logits, yb) * weight
    accuracy = ops.sum(hits, axis=-1) / ops.sum(weight, axis=-1)
    params, opt_state = optimizer.update(state["optimizer"], state["params"], grads, lr, active)
    new = {"params": params, "optimizer": opt_state}
    if noise is not None:
        new["noise"] = {"seed": noise["seed"], "step": noise["step"] + ops.cast(active, "int32")}
    return new, losses, accuracy


def _val_loss(
    spec: ModelSpec, params: list[Any], x_val: Any, y_val: Any, class_weights: Any = None
) -> Any:
    """The validation loss as Keras reports it: the head's loss plus the L2 penalty."""
    logits = _logits(spec, params, x_val)
    loss = _head_loss(spec, logits, y_val, ops.ones_like(y_val), class_weights)
    return _with_penalty(spec, loss, params)


def _class_weights_of(data: dict, y: Any) -> Any:
    """Each row's class weight, looked up by its label (None when the recipe has none)."""
    if "class_weight" not in data:
        return None
    return ops.take(data["class_weight"], ops.cast(y, "int32"), axis=0)


def _head_loss(spec: ModelSpec, logits: Any, y: Any, weight: Any, class_weights: Any) -> Any:
    """The head's mean loss over the real (weight 1) rows; with class weights each row's loss is
    multiplied by its weight and the sum still divided by the real rows (Keras's reduction with
    `class_weight`)."""
    if class_weights is None:
        return spec.head.batch_loss(logits, y, weight)
    weighted = ops.broadcast_to(weight, logits.shape[:-1]) * class_weights
    rows = ops.sum(ops.broadcast_to(weight, logits.shape[:-1]), axis=-1)
    return spec.head.batch_loss(logits, y, weighted) * ops.sum(weighted, axis=-1) / rows


def _with_penalty(spec: ModelSpec, losses: Any, params: list[Any]) -> Any:
    """Per-replica losses plus the L2 penalty, as Keras adds it (nothing added without L2)."""
    return losses + spec.penalty(params, ops) if any(spec.l2) else losses


@cache
def _compiled(spec: ModelSpec, optimizer: Optimizer) -> tuple[Callable, Callable]:
    """The compiled loop and forward pass for one network and optimizer, shared by every engine
    of them: the backend traces (and XLA compiles) once per shape, not once per engine, since
    weights and optimizer state are passed in and returned."""
    loop = backend.compiled(partial(_run_steps, spec, optimizer), donate_first=True)
    forward = backend.compiled(partial(_logits, spec))
    return loop, forward


class StackedMLP:
    """K replicas of `recipe.spec` on one device, trained together; the replica in slot k uses
    `seeds[k]` (its initial weights and batch order) and has its own optimizer state."""

    def __init__(self, recipe: Recipe, seeds: list[int], device: str | None = None):
        self.recipe = recipe
        self.spec = recipe.spec
        self.batch_size = recipe.batch_size
        self.seeds = list(seeds)
        self.device = device or pick_device()
        with keras.device(self.device):
            self.params = [
                ops.convert_to_tensor(layer) for layer in stacked_init(self.spec.sizes, self.seeds)
            ]
            self.optimizer_state = recipe.optimizer.init(self.params)
            self.noise = (
                {
                    "seed": ops.convert_to_tensor(
                        np.array([dropout.as_seed(seed) for seed in self.seeds], "int32")
                    ),
                    "step": ops.zeros(len(self.seeds), "int32"),
                }
                if self.spec.has_dropout
                else None
            )
        self.streams: list[BatchStream | None] = [None] * len(self.seeds)
        self._data: tuple[tuple, dict] | None = None

    @property
    def k(self) -> int:
        return len(self.seeds)

    def load(self, slot: int, seed: int) -> None:
        """Start a new replica in `slot`: fresh weights from `seed`, fresh optimizer state, its
        own batch order."""
        with keras.device(self.device):
            self.params = [
                ops.scatter_update(p, [[slot]], value[None])
                for p, value in zip(self.params, glorot_init(self.spec.sizes, seed), strict=True)
            ]
            self.optimizer_state = self.recipe.optimizer.reset(self.optimizer_state, slot)
            if self.noise is not None:
                self.noise = {
                    "seed": ops.scatter_update(
                        self.noise["seed"], [[slot]], [dropout.as_seed(seed)]
                    ),
                    "step": ops.scatter_update(self.noise["step"], [[slot]], [0]),
                }
        self.seeds[slot] = seed
        self.streams[slot] = None

    def _batches(self, k: int, n_rows: int, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        stream = self.streams[k]
        if stream is None:
            stream = self.streams[k] = BatchStream(n_rows, self.batch_size, self.seeds[k])
        elif stream.n_rows != n_rows:
            raise ValueError(
                f"replica {k} trained on {stream.n_rows} rows and now gets {n_rows}: a replica "
                "continues on the same data; load() a fresh one for other data."
            )
        return stream.take_padded(n_steps)

    def weights(self) -> list[np.ndarray]:
        """Stacked Keras-order weights of every replica: [W1 (K, F, H1), b1 (K, H1), ...]."""
        return [to_numpy(p) for p in self.params]

    def replica_weights(self, k: int) -> list[np.ndarray]:
        """Keras-order weights of replica k, ready for `model.set_weights`."""
        return [w[k] for w in self.weights()]

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
        a later call continues where this one ended (weights, optimizer state, batch order).

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
        loop, _ = _compiled(self.spec, self.recipe.optimizer)
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
            index, weight = _pad_chunk(batches, self.batch_size)
            first = next(b for b in batches if b is not None)
            sizes.extend(first[1].sum(axis=1).astype(int).tolist())
            chunk_lrs = np.zeros((CHUNK_STEPS, self.k), "float32")
            chunk_lrs[:n] = lrs[done : done + n]
            with keras.device(self.device):
                chunk = {
                    "index": ops.convert_to_tensor(index),
                    "weight": ops.convert_to_tensor(weight),
                    "lrs": ops.convert_to_tensor(chunk_lrs),
                    "n_valid": ops.convert_to_tensor(n, "int32"),
                    "val_every": ops.convert_to_tensor(max(val_every, 1), "int32"),
                    "step0": ops.convert_to_tensor(done, "int32"),
                    "beta": ops.convert_to_tensor(stop.beta, "float32"),
                    "factor": ops.convert_to_tensor(stop.factor, "float32"),
                }
                state = self._state
                # The loop may take over the state's buffers (JAX on a GPU donates them).
                self.params = self.optimizer_state = self.noise = None
                state, records, carry = loop(state, data, chunk, carry)
            self.params, self.optimizer_state = state["params"], state["optimizer"]
            self.noise = state.get("noise")
            ran = int(to_numpy(records["steps"]))
            parts.append(
                tuple(
                    to_numpy(records[name])[:ran]
                    for name in ("loss", "smoothed", "val_loss", "accuracy")
                )
            )
            for step, k in zip(*np.nonzero(~to_numpy(records["alive"])[:ran]), strict=True):
                if stopped_at[k] is None:
                    stopped_at[k] = done + int(step)
            live = to_numpy(carry["active"])
            done += ran
            if on_progress:
                on_progress(done, total, int(live.sum()))
        loss, smooth, val, accuracy = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return Trace(loss, smooth, val, accuracy, np.array(sizes[:done]), stopped_at)

    def _on_device(
        self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None
    ) -> dict:
        """The training rows (padded, see `_pad_rows`) and validation rows as device tensors,
        made once for as long as the same arrays come back (every epoch of a fit)."""
        arrays = (x, y, x_val, y_val)
        class_weight = self.recipe.class_weight
        if self._data is not None and all(
            a is b for a, b in zip(self._data[0], arrays, strict=True)
        ):
            return self._data[1]
        no_val = x_val is None or len(x_val) == 0
        with keras.device(self.device):
            data = {
                "x": ops.convert_to_tensor(_pad_rows(x), "float32"),
                "y": ops.convert_to_tensor(_pad_rows(y), "float32"),
                "x_val": ops.convert_to_tensor(
                    np.zeros((0, x.shape[1])) if no_val else x_val, "float32"
                ),
                "y_val": ops.convert_to_tensor(np.zeros(0) if no_val else y_val, "float32"),
            }
            if class_weight is not None:
                data["class_weight"] = ops.convert_to_tensor(np.array(class_weight), "float32")
        self._data = (arrays, data)
        return data

    @property
    def _state(self) -> dict:
        state = {"params": self.params, "optimizer": self.optimizer_state}
        return state if self.noise is None else {**state, "noise": self.noise}

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Head logits of every replica: (K, N, units), `by_rows`."""
        _, forward = _compiled(self.spec, self.recipe.optimizer)

        def on_device(rows: np.ndarray) -> np.ndarray:
            interrupt.check()
            with keras.device(self.device):
                return to_numpy(forward(self.params, ops.convert_to_tensor(rows, "float32")))

        return by_rows(on_device, x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The head's predictions of every replica (binary: probabilities (K, N))."""
        return self.spec.head.predict(self.logits(x))


def _pad_rows(a: np.ndarray) -> np.ndarray:
    """`a` with zero rows appended up to the next power of two: batches only gather real rows,
    and data sets of similar size (train, train + validation) share one compiled loop."""
    rows = 1 << max(len(a) - 1, 0).bit_length()
    return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]), a.dtype)])


def _pad_chunk(
    batches: list[tuple[np.ndarray, np.ndarray] | None], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and row weights (CHUNK, K, B) of each replica's next padded batches; unused steps
    are all padding, and a frozen replica (None) gets row 0 at weight 1 (computed, never
    applied)."""
    k = len(batches)
    index = np.zeros((CHUNK_STEPS, k, batch_size), "int32")
    weight = np.zeros((CHUNK_STEPS, k, batch_size), "float32")
    for r, steps in enumerate(batches):
        if steps is None:
            weight[:, r] = 1.0
            continue
        rows, weights = steps
        index[: len(rows), r] = rows
        weight[: len(rows), r] = weights
    return index, weight
