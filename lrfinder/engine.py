"""K replicas of an MLP trained at once: stacked weights and one compiled multi-step loop.

Semantics follow Keras: Dense layers with Glorot-uniform kernels and zero biases, ReLU hidden
layers, a sigmoid output with binary cross-entropy computed from the logits, the batch mean as
the loss, and Adam (beta1 0.9, beta2 0.999, epsilon 1e-7, bias correction as in Keras 3).
Replica k draws its initial weights and its batch order from its own seed only, so it trains
exactly as it would alone.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

BETA_1 = 0.9
BETA_2 = 0.999
EPSILON = 1e-7
CHUNK_STEPS = 64


def pick_device() -> str:
    """The first GPU TensorFlow sees (a cluster worker sees only its own, through
    CUDA_VISIBLE_DEVICES), with memory grown as needed rather than all taken; else the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    return "/GPU:0" if gpus else "/CPU:0"


def layer_sizes(n_features: int, hidden: tuple[int, ...]) -> list[int]:
    return [n_features, *hidden, 1]


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


def _logits(params: list[tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """x: (K, B, F) per replica or (B, F) shared by all -> logits (K, B)."""
    h = x
    n_layers = len(params) // 2
    for layer in range(n_layers):
        pattern = "kbi,kio->kbo" if len(h.shape) == 3 else "bi,kio->kbo"
        h = tf.einsum(pattern, h, params[2 * layer]) + params[2 * layer + 1][:, None, :]
        if layer < n_layers - 1:
            h = tf.nn.relu(h)
    return h[..., 0]


def _bce(logits: tf.Tensor, y: tf.Tensor, weight: tf.Tensor) -> tf.Tensor:
    """Per-replica mean loss over the real (weight 1) rows of padded batches: (K,)."""
    labels = tf.broadcast_to(y, tf.shape(logits))
    weight = tf.broadcast_to(weight, tf.shape(logits))
    losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(losses * weight, axis=-1) / tf.reduce_sum(weight, axis=-1)


def _run_steps(
    model_vars: list,
    x: tf.Tensor,
    y: tf.Tensor,
    index: tf.Tensor,
    weight: tf.Tensor,
    lrs: tf.Tensor,
    n_valid: tf.Tensor,
    active: tf.Tensor,
    ema: tf.Tensor,
    best: tf.Tensor,
    count: tf.Tensor,
    x_val: tf.Tensor,
    y_val: tf.Tensor,
    val_every: tf.Tensor,
    step0: tf.Tensor,
    beta: tf.Tensor,
    factor: tf.Tensor,
):
    """Run up to `n_valid` steps; index and weight (S, K, B), lrs (S, K).

    Returns per-step loss, smoothed loss, validation loss (NaN where not measured or the
    replica had stopped), batch accuracy and whether each replica is still active, each (S, K),
    plus the carried state."""
    n_steps = tf.shape(index)[0]
    k = tf.shape(active)[0]
    nan = tf.fill([k], float("nan"))
    blank = tf.fill([n_steps, k], float("nan"))
    measure_val = x_val.shape[0] != 0

    def body(step, active, ema, best, count, loss_rec, smooth_rec, val_rec, acc_rec, alive):
        losses, accuracy = _adam_step(
            model_vars,
            tf.gather(x, index[step]),
            tf.gather(y, index[step]),
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
                (step0 + step + 1) % val_every == 0,
                lambda: tf.where(active, _val_loss(model_vars[0], x_val, y_val), nan),
                lambda: nan,
            )
            val_rec = tf.tensor_scatter_nd_update(val_rec, row, [val])
        finite = tf.math.is_finite(losses) & tf.math.is_finite(smoothed)
        active = active & finite & ~(smoothed > factor * best)
        alive = tf.tensor_scatter_nd_update(alive, row, [active])
        return step + 1, active, ema, best, count, loss_rec, smooth_rec, val_rec, acc_rec, alive

    def more(step, active, *_):
        return (step < n_valid) & tf.reduce_any(active)

    state = (
        tf.constant(0),
        active,
        ema,
        best,
        count,
        blank,
        blank,
        blank,
        blank,
        tf.zeros([n_steps, k], tf.bool),
    )
    step, active, ema, best, count, loss_rec, smooth_rec, val_rec, acc_rec, alive = tf.while_loop(
        more, body, state
    )
    return (
        loss_rec[:step],
        smooth_rec[:step],
        val_rec[:step],
        acc_rec[:step],
        alive[:step],
        active,
        ema,
        best,
        count,
    )


def _adam_step(
    model_vars: list,
    xb: tf.Tensor,
    yb: tf.Tensor,
    weight: tf.Tensor,
    lr: tf.Tensor,
    active: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One Keras-Adam step of every active replica; returns each replica's batch loss and batch
    accuracy, both (K,)."""
    variables, first, second, iterations = model_vars
    params = [p.read_value() for p in variables]
    with tf.GradientTape() as tape:
        tape.watch(params)
        logits = _logits(params, xb)
        losses = _bce(logits, yb, weight)
        total = tf.reduce_sum(losses)
    hits = tf.cast((logits >= 0.0) == (yb >= 0.5), tf.float32) * weight
    accuracy = tf.reduce_sum(hits, axis=-1) / tf.reduce_sum(weight, axis=-1)
    grads = tape.gradient(total, params)
    t = iterations + 1.0
    alpha = lr * tf.sqrt(1.0 - BETA_2**t) / (1.0 - BETA_1**t)
    iterations.assign(tf.where(active, t, iterations))
    for p, m, v, g in zip(variables, first, second, grads, strict=True):
        shape = [-1] + [1] * (len(p.shape) - 1)
        live = tf.reshape(active, shape)
        new_m = m + (g - m) * (1.0 - BETA_1)
        new_v = v + (tf.square(g) - v) * (1.0 - BETA_2)
        new_p = p - tf.reshape(alpha, shape) * new_m / (tf.sqrt(new_v) + EPSILON)
        m.assign(tf.where(live, new_m, m))
        v.assign(tf.where(live, new_v, v))
        p.assign(tf.where(live, new_p, p))
    return losses, accuracy


def _val_loss(variables: list, x_val: tf.Tensor, y_val: tf.Tensor) -> tf.Tensor:
    params = [p.read_value() for p in variables]
    return _bce(_logits(params, x_val), y_val, tf.ones_like(y_val))


# One compiled loop and forward pass for every engine: TensorFlow traces (and XLA compiles) once
# per shape, not once per engine, since variables are passed in as arguments.
_LOOP = tf.function(_run_steps, jit_compile=True, autograph=False)
_FORWARD = tf.function(_logits, jit_compile=True, autograph=False)


class StackedMLP:
    """K MLP replicas on one device, trained together; the replica in slot k uses `seeds[k]`
    (its initial weights and batch order) and counts its own Adam steps."""

    def __init__(
        self,
        n_features: int,
        seeds: list[int],
        hidden: tuple[int, ...] = (128, 256, 256),
        batch_size: int = 32,
        device: str | None = None,
    ):
        self.sizes = layer_sizes(n_features, hidden)
        self.seeds = list(seeds)
        self.batch_size = batch_size
        self.device = device or pick_device()
        with tf.device(self.device):
            self.params = [tf.Variable(layer) for layer in stacked_init(self.sizes, self.seeds)]
            self.m = [tf.Variable(tf.zeros_like(p)) for p in self.params]
            self.v = [tf.Variable(tf.zeros_like(p)) for p in self.params]
            self.iterations = tf.Variable(tf.zeros(len(self.seeds)))
        self.streams: list[BatchStream | None] = [None] * len(self.seeds)

    @property
    def _state(self) -> list:
        return [self.params, self.m, self.v, self.iterations]

    @property
    def k(self) -> int:
        return len(self.seeds)

    def load(self, slot: int, seed: int) -> None:
        """Start a new replica in `slot`: fresh weights from `seed`, zero Adam state, its own
        batch order."""
        with tf.device(self.device):
            for variable, value in zip(self.params, glorot_init(self.sizes, seed), strict=True):
                variable[slot].assign(value)
            for variable in (*self.m, *self.v):
                variable[slot].assign(tf.zeros(variable.shape[1:]))
            self.iterations[slot].assign(0.0)
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
        active = tf.constant(np.ones(self.k, bool) if active is None else np.asarray(active, bool))
        ema = tf.zeros(self.k)
        best = tf.fill([self.k], float("inf"))
        count = tf.zeros(self.k)
        stopped_at: list[int | None] = [None] * self.k
        parts: list[tuple[np.ndarray, ...]] = []
        sizes: list[int] = []
        done = 0
        while done < total and bool(tf.reduce_any(active)):
            n = min(CHUNK_STEPS, total - done)
            batches = [
                self._batches(k, len(x), n) if live else None
                for k, live in enumerate(active.numpy())
            ]
            index, weight = _pad_chunk(batches, self.batch_size)
            sizes.extend(len(rows) for rows in next(b for b in batches if b is not None))
            chunk_lrs = np.zeros((CHUNK_STEPS, self.k), "float32")
            chunk_lrs[:n] = lrs[done : done + n]
            with tf.device(self.device):
                loss, smooth, val, accuracy, alive, active, ema, best, count = _LOOP(
                    self._state, tx, ty, index, weight, chunk_lrs, tf.constant(n), active, ema,
                    best, count, tx_val, ty_val, tf.constant(max(val_every, 1)), tf.constant(done),
                    tf.constant(stop.beta, tf.float32), tf.constant(stop.factor, tf.float32),
                )  # fmt: skip
            ran = int(loss.shape[0])
            parts.append((loss.numpy(), smooth.numpy(), val.numpy(), accuracy.numpy()))
            for step, k in zip(*np.nonzero(~alive.numpy()), strict=True):
                if stopped_at[k] is None:
                    stopped_at[k] = done + int(step)
            done += ran
            if on_progress:
                on_progress(done, total, int(tf.reduce_sum(tf.cast(active, tf.int32))))
        loss, smooth, val, accuracy = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return Trace(loss, smooth, val, accuracy, np.array(sizes[:done]), stopped_at)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Pre-sigmoid outputs of every replica: (K, N)."""
        with tf.device(self.device):
            params = [p.read_value() for p in self.params]
            return _FORWARD(params, tf.constant(x, tf.float32)).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of every replica: (K, N)."""
        return 1.0 / (1.0 + np.exp(-self.logits(x)))


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
