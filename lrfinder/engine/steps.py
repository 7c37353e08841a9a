"""One step of K replicas of a compiled Keras model, as the backend allows it, all through the
model's own `train_step`, `test_step` and call (so each replica trains exactly as `fit` trains it).

A replica's state is three lists of tensors: the model's trainable and non-trainable variables
(moving statistics, seed generators) and the optimizer's variables (its step count and rate
included). The engine holds K replicas as stacked (K, ...) tensors.

- JAX: Keras's stateless API (`train_step(state, data)`), vectorized over replicas with `vmap`.
- TensorFlow, whose optimizers have no stateless API: the model's variables take each replica's
  values in turn inside one compiled loop, `train_step(data)` runs, and the values are read back."""

from __future__ import annotations

from typing import Any

from lrfinder.engine.backend import BACKEND, keras

ops = keras.ops
State = tuple[list[Any], list[Any], list[Any]]


def _data(x: Any, y: Any, sample_weight: Any) -> tuple:
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def _logs(logs: dict) -> tuple[Any, Any]:
    """The batch loss and accuracy (NaN without an accuracy metric) from a step's logs."""
    accuracy = logs.get("accuracy", ops.convert_to_tensor(float("nan")))
    return ops.cast(logs["loss"], "float32"), ops.cast(accuracy, "float32")


class JaxSteps:
    """The model's stateless steps, each replica on its own batch (train) or all on one (test,
    predict), vectorized with `jax.vmap`."""

    def __init__(self, model: keras.Model, lr_index: int):
        import jax

        metric_zeros = [ops.zeros_like(v.value) for v in model.metrics_variables]

        def train_one(state: State, x: Any, y: Any, weight: Any, lr: Any) -> tuple:
            trainable, non_trainable, optimizer = state
            optimizer = list(optimizer)
            optimizer[lr_index] = ops.cast(lr, optimizer[lr_index].dtype)
            logs, new = model.train_step(
                (trainable, non_trainable, optimizer, metric_zeros), _data(x, y, weight)
            )
            return tuple(new[:3]), _logs(logs)

        def test_one(state: State, x: Any, y: Any, weight: Any) -> tuple[Any, Any]:
            trainable, non_trainable, _ = state
            logs, _ = model.test_step((trainable, non_trainable, metric_zeros), _data(x, y, weight))
            return _logs(logs)

        def predict_one(state: State, x: Any) -> Any:
            trainable, non_trainable, _ = state
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        self.train = jax.vmap(train_one)
        self.test = jax.vmap(test_one, in_axes=(0, None, None, None))
        self.predict = jax.vmap(predict_one, in_axes=(0, None))


class TensorFlowSteps:
    """The model's own steps for each replica in turn: its values are assigned to the model's
    variables, the step runs, and the new values are read back (inside one compiled call)."""

    def __init__(self, model: keras.Model, lr_index: int):
        self.model = model
        self.lr_index = lr_index
        self.groups = (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
        )

    def _put(self, state: State, k: Any, groups: int = 3) -> None:
        for variables, values in zip(self.groups[:groups], state[:groups], strict=True):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(ops.take(value, k, axis=0))

    def _read(self) -> State:
        return tuple([ops.copy(v.value) for v in variables] for variables in self.groups)

    def _reset_metrics(self) -> None:
        for variable in self.model.metrics_variables:
            variable.assign(ops.zeros_like(variable.value))

    def _each(self, fn: Any, k_total: int, initial: Any) -> Any:
        return ops.fori_loop(0, k_total, fn, initial)

    def train(self, state: State, x: Any, y: Any, weight: Any, lr: Any) -> tuple:
        k_total = lr.shape[0]
        nan = ops.full([k_total], float("nan"))

        def body(k: Any, carry: tuple) -> tuple:
            state, loss, accuracy = carry
            self._put(state, k)
            self.groups[2][self.lr_index].assign(ops.cast(lr[k], "float32"))
            self._reset_metrics()
            w = None if weight is None else weight[k]
            batch_loss, batch_accuracy = _logs(self.model.train_step(_data(x[k], y[k], w)))
            state = put_slot(state, k, self._read())
            loss = ops.slice_update(loss, [k], batch_loss[None])
            accuracy = ops.slice_update(accuracy, [k], batch_accuracy[None])
            return state, loss, accuracy

        state, loss, accuracy = self._each(body, k_total, (state, nan, nan))
        return state, (loss, accuracy)

    def test(self, state: State, x: Any, y: Any, weight: Any) -> tuple[Any, Any]:
        k_total = state[0][0].shape[0]
        nan = ops.full([k_total], float("nan"))

        def body(k: Any, carry: tuple) -> tuple:
            loss, accuracy = carry
            self._put(state, k, groups=2)
            self._reset_metrics()
            batch_loss, batch_accuracy = _logs(self.model.test_step(_data(x, y, weight)))
            loss = ops.slice_update(loss, [k], batch_loss[None])
            accuracy = ops.slice_update(accuracy, [k], batch_accuracy[None])
            return loss, accuracy

        return self._each(body, k_total, (nan, nan))

    def predict(self, state: State, x: Any) -> Any:
        k_total = state[0][0].shape[0]
        units = self.model.outputs[0].shape[1:]
        initial = ops.zeros([k_total, x.shape[0], *units])

        def body(k: Any, out: Any) -> Any:
            self._put(state, k, groups=2)
            y = ops.cast(self.model(x, training=False), "float32")
            return ops.slice_update(out, [k, *([0] * (len(out.shape) - 1))], y[None])

        return self._each(body, k_total, initial)


def put_slot(state: State, k: Any, values: State) -> State:
    """`state` with replica k's entries replaced by `values` (one replica's tensors)."""
    return tuple(
        [
            ops.slice_update(s, [k, *([0] * (len(s.shape) - 1))], ops.cast(v, s.dtype)[None])
            for s, v in zip(stacked, new, strict=True)
        ]
        for stacked, new in zip(state, values, strict=True)
    )


def steps_for(model: keras.Model, lr_index: int) -> JaxSteps | TensorFlowSteps:
    """The backend's way of stepping K replicas of `model`."""
    return JaxSteps(model, lr_index) if BACKEND == "jax" else TensorFlowSteps(model, lr_index)
