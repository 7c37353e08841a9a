"""K replicas of a Keras model trained at once: one compiled multi-step loop around the model's own
training step (`lrfinder.engine.steps`), written once in `keras.ops`.

Replica k draws its initial variables (through the model's own initializers), its seed
generators' states and its batch order from its own seed only, and has its own rate at every step
and its own optimizer state, so it trains exactly as `model.fit` would train it alone: the same
batches (the short last batch of an epoch included), the same loss, regularization and updates.
A replica that is stopped or frozen keeps all of its state as it was."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lrfinder.engine import interrupt
from lrfinder.engine.backend import keras, pick_device, to_numpy
from lrfinder.engine.batches import BatchStream
from lrfinder.engine.loop import RECORDS
from lrfinder.engine.prepared import Prepared, prepared
from lrfinder.engine.recipe import ROWS_AT_ONCE, Recipe
from lrfinder.engine.steps import State, put_slot

ops = keras.ops

CHUNK_STEPS = 64


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
        self.skip = [0] * len(self.seeds)  # steps a resumed replica's batch order has run
        self._data: tuple[tuple, dict] | None = None

    @property
    def k(self) -> int:
        return len(self.seeds)

    def load(
        self, slot: int, seed: int, state: ReplicaState | None = None, steps_done: int = 0
    ) -> None:
        """Put a replica in `slot`: fresh from `seed`, or, given the `state` it had after
        `steps_done` steps on this data, where it paused (its batch order continues)."""
        with keras.device(self.device):
            if state is None:
                fresh = self.prepared.draw([seed])
                one = tuple([value[0] for value in group] for group in fresh)
            else:
                one = (state.trainable, state.non_trainable, state.optimizer)
            self.state = put_slot(self.state, slot, one)
        self.seeds[slot] = seed
        self.streams[slot] = None
        self.skip[slot] = steps_done

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
            stream.take(self.skip[k])
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
                "ema": ops.convert_to_tensor(np.zeros(self.k, "float32")),
                "best": ops.convert_to_tensor(np.full(self.k, np.inf, "float32")),
                "count": ops.convert_to_tensor(np.zeros(self.k, "float32")),
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
            parts.append(tuple(records[name][:ran] for name in RECORDS))
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
        live = np.array([b is not None for b in batches])
        records = {name: np.full((n, self.k), np.nan) for name in RECORDS}
        records["alive"] = np.ones((n, self.k), bool)
        step = 0
        while step < n:
            if full[step]:
                end = step + int(np.argmin(full[step:])) if not full[step:].all() else n
                calls = [(range(step, end), self.batch_size, np.tile(live, (end - step, 1)))]
            else:
                end = step + 1
                calls = [
                    (range(step, end), size, ((sizes[step] == size) & live)[None, :])
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
        """One compiled call over `steps` with batches of `size` rows for the replicas that
        `runs` (steps x K) marks: live ones (with batches) of that batch size."""
        length = CHUNK_STEPS if size == self.batch_size else 1
        index = np.zeros((length, self.k, size), "int32")
        run = np.zeros((length, self.k), bool)
        chunk_lrs = np.zeros((length, self.k), "float32")
        for i, s in enumerate(steps):
            for k in np.flatnonzero(runs[i]):
                index[i, k] = batches[k][s]
            run[i] = runs[i]
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
        got = {name: to_numpy(records[name]) for name in (*RECORDS, "alive")}
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
