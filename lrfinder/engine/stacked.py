"""K replicas of a network trained at once: stacked weights and one compiled multi-step loop.

Semantics follow Keras: the `ModelSpec`'s Dense layers with Glorot-uniform kernels and zero
biases, the head's loss computed from the logits, the batch mean as the loss, and the recipe's
optimizer stepping each replica on its own. Replica k draws its initial weights and its batch
order from its own seed only, so it trains exactly as it would alone.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial

import numpy as np

from lrfinder.engine.optimizers import Optimizer
from lrfinder.engine.recipe import Recipe
from lrfinder.engine.tensorflow import gpus, keras, tf
from lrfinder.model.spec import ModelSpec

CHUNK_STEPS = 64


def pick_device() -> str:
    """The first GPU TensorFlow sees (a cluster worker sees only its own, through
    CUDA_VISIBLE_DEVICES), with memory grown as needed rather than all taken; else the CPU."""
    found = gpus()
    for gpu in found:
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    return "/GPU:0" if found else "/CPU:0"


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
    batches in order, the last batch of an epoch smaller (as in `model.fit`)."""

    def __init__(self, n_rows: int, batch_size: int, seed: int):
        self.n_rows = n_rows
        self.batch_size = batch_size
        self.rng = np.random.default_rng([seed, 1])
        self.ahead: list[np.ndarray] = []

    def take(self, n_steps: int) -> list[np.ndarray]:
        """Row indices of the next `n_steps` batches."""
        while len(self.ahead) < n_steps:
            order = self.rng.permutation(self.n_rows)
            self.ahead.extend(
                order[i : i + self.batch_size] for i in range(0, self.n_rows, self.batch_size)
            )
        taken, self.ahead = self.ahead[:n_steps], self.ahead[n_steps:]
        return taken


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


def _logits(spec: ModelSpec, params: list[tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """x: (K, B, F) per replica or (B, F) shared by all -> head logits (K, B, units)."""
    h = x
    for layer, activation in enumerate(spec.activations):
        pattern = "kbi,kio->kbo" if len(h.shape) == 3 else "bi,kio->kbo"
        h = tf.einsum(pattern, h, params[2 * layer]) + params[2 * layer + 1][:, None, :]
        if layer < len(spec.layers):
            h = keras.activations.get(activation)(h)
    return h


def _run_steps(
    spec: ModelSpec, optimizer: Optimizer, state: dict, data: dict, chunk: dict, carry: dict
) -> tuple[dict, dict]:
    """Run up to `chunk["n_valid"]` steps; chunk index and weight (S, K, B), lrs (S, K).

    Returns the records (per-step loss, smoothed loss, validation loss (NaN where not measured
    or the replica had stopped), batch accuracy and whether each replica is still active, each
    (S, K)) and the carried state (active, ema, best, count)."""
    index, weight, lrs = chunk["index"], chunk["weight"], chunk["lrs"]
    beta, factor = chunk["beta"], chunk["factor"]
    n_steps = tf.shape(index)[0]
    k = tf.shape(carry["active"])[0]
    nan = tf.fill([k], float("nan"))
    blank = tf.fill([n_steps, k], float("nan"))
    measure_val = data["x_val"].shape[0] != 0

    def body(step, active, ema, best, count, loss_rec, smooth_rec, val_rec, acc_rec, alive):
        losses, accuracy = _train_step(
            spec,
            optimizer,
            state,
            tf.gather(data["x"], index[step]),
            tf.gather(data["y"], index[step]),
            weight[step],
            lrs[step],
            active,
        )
        count = count + tf.cast(active, tf.float32)
        ema = tf.where(active, beta * ema + (1.0 - beta) * losses, ema)
        smoothed = ema / (1.0 - beta**count)
        best = tf.where(active, tf.minimum(best, smoothed), best)
        row = [[step]]
        loss_rec = tf.tensor_scatter_nd_update(loss_rec, row, [tf.where(active, losses, nan)])
        smooth_rec = tf.tensor_scatter_nd_update(smooth_rec, row, [tf.where(active, smoothed, nan)])
        acc_rec = tf.tensor_scatter_nd_update(acc_rec, row, [tf.where(active, accuracy, nan)])
        if measure_val:
            val = tf.cond(
                (chunk["step0"] + step + 1) % chunk["val_every"] == 0,
                lambda: tf.where(
                    active, _val_loss(spec, state["params"], data["x_val"], data["y_val"]), nan
                ),
                lambda: nan,
            )
            val_rec = tf.tensor_scatter_nd_update(val_rec, row, [val])
        finite = tf.math.is_finite(losses) & tf.math.is_finite(smoothed)
        active = active & finite & ~(smoothed > factor * best)
        alive = tf.tensor_scatter_nd_update(alive, row, [active])
        return step + 1, active, ema, best, count, loss_rec, smooth_rec, val_rec, acc_rec, alive

    def more(step, active, *_):
        return (step < chunk["n_valid"]) & tf.reduce_any(active)

    initial = (
        tf.constant(0),
        carry["active"],
        carry["ema"],
        carry["best"],
        carry["count"],
        blank,
        blank,
        blank,
        blank,
        tf.zeros([n_steps, k], tf.bool),
    )
    step, active, ema, best, count, loss_rec, smooth_rec, val_rec, acc_rec, alive = tf.while_loop(
        more, body, initial
    )
    records = {
        "loss": loss_rec[:step],
        "smoothed": smooth_rec[:step],
        "val_loss": val_rec[:step],
        "accuracy": acc_rec[:step],
        "alive": alive[:step],
    }
    return records, {"active": active, "ema": ema, "best": best, "count": count}


def _train_step(
    spec: ModelSpec,
    optimizer: Optimizer,
    state: dict,
    xb: tf.Tensor,
    yb: tf.Tensor,
    weight: tf.Tensor,
    lr: tf.Tensor,
    active: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One optimizer step of every active replica; returns each replica's batch loss and batch
    accuracy, both (K,)."""
    variables = state["params"]
    params = [p.read_value() for p in variables]
    with tf.GradientTape() as tape:
        tape.watch(params)
        logits = _logits(spec, params, xb)
        losses = spec.head.tf_loss(logits, yb, weight)
        total = tf.reduce_sum(losses)
    hits = spec.head.tf_hits(logits, yb) * weight
    accuracy = tf.reduce_sum(hits, axis=-1) / tf.reduce_sum(weight, axis=-1)
    grads = tape.gradient(total, params)
    optimizer.apply(state["optimizer"], variables, grads, lr, active)
    return losses, accuracy


def _val_loss(spec: ModelSpec, variables: list, x_val: tf.Tensor, y_val: tf.Tensor) -> tf.Tensor:
    params = [p.read_value() for p in variables]
    return spec.head.tf_loss(_logits(spec, params, x_val), y_val, tf.ones_like(y_val))


@cache
def _compiled(spec: ModelSpec, optimizer: Optimizer) -> tuple[tf.function, tf.function]:
    """The compiled loop and forward pass for one network and optimizer, shared by every engine
    of them: TensorFlow traces (and XLA compiles) once per shape, not once per engine, since the
    variables are passed in as arguments."""
    loop = tf.function(partial(_run_steps, spec, optimizer), jit_compile=True, autograph=False)
    forward = tf.function(partial(_logits, spec), jit_compile=True, autograph=False)
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
        with tf.device(self.device):
            self.params = [
                tf.Variable(layer) for layer in stacked_init(self.spec.sizes, self.seeds)
            ]
            self.optimizer_state = recipe.optimizer.create_state(self.params)
        self.streams: list[BatchStream | None] = [None] * len(self.seeds)

    @property
    def _state(self) -> dict:
        return {"params": self.params, "optimizer": self.optimizer_state}

    @property
    def k(self) -> int:
        return len(self.seeds)

    def load(self, slot: int, seed: int) -> None:
        """Start a new replica in `slot`: fresh weights from `seed`, fresh optimizer state, its
        own batch order."""
        with tf.device(self.device):
            for variable, value in zip(
                self.params, glorot_init(self.spec.sizes, seed), strict=True
            ):
                variable[slot].assign(value)
            self.recipe.optimizer.reset(self.optimizer_state, slot)
        self.seeds[slot] = seed
        self.streams[slot] = None

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

    def replica_weights(self, k: int) -> list[np.ndarray]:
        """Keras-order weights of replica k, ready for `model.set_weights`."""
        return [p.numpy()[k] for p in self.params]

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
        a later call continues where this one ended (weights, Adam state, batch order).

        With a StopRule, a replica stops when its smoothed loss diverges; the run ends early
        when all have stopped. `active` (K bools) freezes the replicas marked False from the
        start; they draw no batches. `on_progress(steps_done, steps_total, replicas_active)`.
        """
        lrs = np.asarray(lrs, dtype="float32")
        if lrs.ndim == 1:
            lrs = np.repeat(lrs[:, None], self.k, axis=1)
        total = lrs.shape[0]
        stop = stop or StopRule(factor=math.inf)
        no_val = x_val is None or len(x_val) == 0
        with tf.device(self.device):
            tx = tf.constant(_pad_rows(x), tf.float32)
            ty = tf.constant(_pad_rows(y), tf.float32)
            tx_val = tf.constant(np.zeros((0, x.shape[1])) if no_val else x_val, tf.float32)
            ty_val = tf.constant(np.zeros(0) if no_val else y_val, tf.float32)
        active = np.ones(self.k, bool) if active is None else np.asarray(active, bool)
        carry = {
            "active": tf.constant(active),
            "ema": tf.zeros(self.k),
            "best": tf.fill([self.k], float("inf")),
            "count": tf.zeros(self.k),
        }
        data = {"x": tx, "y": ty, "x_val": tx_val, "y_val": ty_val}
        loop, _ = _compiled(self.spec, self.recipe.optimizer)
        stopped_at: list[int | None] = [None] * self.k
        parts: list[tuple[np.ndarray, ...]] = []
        sizes: list[int] = []
        done = 0
        while done < total and bool(tf.reduce_any(carry["active"])):
            n = min(CHUNK_STEPS, total - done)
            batches = [
                self._batches(k, len(x), n) if live else None
                for k, live in enumerate(carry["active"].numpy())
            ]
            index, weight = _pad_chunk(batches, self.batch_size)
            sizes.extend(len(rows) for rows in next(b for b in batches if b is not None))
            chunk_lrs = np.zeros((CHUNK_STEPS, self.k), "float32")
            chunk_lrs[:n] = lrs[done : done + n]
            chunk = {
                "index": index,
                "weight": weight,
                "lrs": chunk_lrs,
                "n_valid": tf.constant(n),
                "val_every": tf.constant(max(val_every, 1)),
                "step0": tf.constant(done),
                "beta": tf.constant(stop.beta, tf.float32),
                "factor": tf.constant(stop.factor, tf.float32),
            }
            with tf.device(self.device):
                records, carry = loop(self._state, data, chunk, carry)
            ran = int(records["loss"].shape[0])
            parts.append(
                tuple(
                    records[name].numpy() for name in ("loss", "smoothed", "val_loss", "accuracy")
                )
            )
            for step, k in zip(*np.nonzero(~records["alive"].numpy()), strict=True):
                if stopped_at[k] is None:
                    stopped_at[k] = done + int(step)
            done += ran
            if on_progress:
                on_progress(done, total, int(tf.reduce_sum(tf.cast(carry["active"], tf.int32))))
        loss, smooth, val, accuracy = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return Trace(loss, smooth, val, accuracy, np.array(sizes[:done]), stopped_at)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Head logits of every replica: (K, N, units)."""
        _, forward = _compiled(self.spec, self.recipe.optimizer)
        with tf.device(self.device):
            params = [p.read_value() for p in self.params]
            return forward(params, tf.constant(x, tf.float32)).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The head's predictions of every replica (binary: probabilities (K, N))."""
        return self.spec.head.predict(self.logits(x))


def _pad_rows(a: np.ndarray) -> np.ndarray:
    """`a` with zero rows appended up to the next power of two: batches only gather real rows,
    and data sets of similar size (train, train + validation) share one compiled loop."""
    rows = 1 << max(len(a) - 1, 0).bit_length()
    return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]), a.dtype)])


def _pad_chunk(
    batches: list[list[np.ndarray] | None], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and row weights (CHUNK, K, B) of each replica's next batches; short batches are
    padded with row 0 at weight 0, unused steps are all padding, and a frozen replica (None)
    gets row 0 at weight 1 (computed, never applied)."""
    k = len(batches)
    index = np.zeros((CHUNK_STEPS, k, batch_size), "int32")
    weight = np.zeros((CHUNK_STEPS, k, batch_size), "float32")
    for r, steps in enumerate(batches):
        if steps is None:
            weight[:, r] = 1.0
            continue
        for s, rows in enumerate(steps):
            index[s, r, : len(rows)] = rows
            weight[s, r, : len(rows)] = 1.0
    return index, weight
