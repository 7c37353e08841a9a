"""The engine's compiled loop: many steps of K replicas per call, each replica stepping at its own
rate while it is active, with the range test's divergence rule and validation checks inside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lrfinder.engine.backend import keras
from lrfinder.engine.steps import State

ops = keras.ops
# What the loop records per step and replica, besides whether each replica is still active.
RECORDS = ("loss", "smoothed", "val_loss", "accuracy")


def compiled_loop(steps: Any) -> Callable:
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
            state = kept(new, state, stepped)
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

        records = {name: blank for name in RECORDS}
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


def kept(new: State, old: State, stepped: Any) -> State:
    """`new` for the replicas that stepped, `old` (all of it) for the others."""

    def pick(n: Any, o: Any) -> Any:
        mask = ops.reshape(stepped, [-1] + [1] * (len(o.shape) - 1))
        return ops.where(mask, ops.cast(n, o.dtype), o)

    return tuple(
        [pick(n, o) for n, o in zip(new_group, old_group, strict=True)]
        for new_group, old_group in zip(new, old, strict=True)
    )
