"""The names the settings offer, each a Keras built-in's name or one of ours: tasks and the Keras
losses that fit each, activations, optimizers and the curve readings. Names only (no Keras, no
scikit-learn), so that the settings check a name without loading them; the tables that implement
them are keyed by these names (a test checks the Keras names against Keras)."""

from __future__ import annotations

TASKS = ("binary", "multiclass", "regression")

# Keras's built-in losses that fit each task's target (0/1 labels and one probability, class
# indices and class probabilities, a standardized number), by their Keras names; the first is
# the default. Short aliases Keras knows map to these names.
LOSSES = {
    "binary": (
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "hinge",
        "squared_hinge",
        "mean_squared_error",
        "mean_absolute_error",
        "dice",
        "tversky",
    ),
    "multiclass": ("sparse_categorical_crossentropy",),
    "regression": (
        "mean_squared_error",
        "huber",
        "log_cosh",
        "mean_absolute_error",
    ),
}
ALIASES = {
    "bce": "binary_crossentropy",
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
}


def loss_name(name: str) -> str:
    """A loss's Keras name, from the name or a short alias Keras knows."""
    return ALIASES.get(name, name)


def unfit_loss(named: str, task: str, source: str = "--loss") -> str | None:
    """Why the loss `named` (given as `source`) does not fit `task` (None when it does)."""
    if loss_name(named) in LOSSES[task]:
        return None
    return (
        f"{source} {named} does not fit the {task} task. Fix: use one of {', '.join(LOSSES[task])}."
    )


# Keras activations the default network's hidden layers take, by their Keras names (a test checks
# each against keras.activations.get, so settings name them without importing Keras).
ACTIVATIONS = (
    "relu",
    "tanh",
    "sigmoid",
    "gelu",
    "elu",
    "selu",
    "silu",
    "swish",
    "leaky_relu",
    "mish",
    "softplus",
    "softsign",
    "relu6",
    "hard_sigmoid",
    "hard_silu",
    "celu",
    "linear",
)

# Every built-in Keras optimizer, by the name `keras.optimizers.get` takes (a test checks the list
# against Keras's own, so settings can name them without importing Keras).
OPTIMIZERS = (
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "ftrl",
    "lion",
    "muon",
    "nadam",
    "rmsprop",
    "schedulefreeadamw",
    "sgd",
)


# The curve readings of the range test, implemented by the functions of the same name in
# `lr/suggest.py` (`minimum/10`: `minimum_tenth`).
SUGGESTION_METHODS = ("valley", "steepest", "minimum/10", "argmin")
