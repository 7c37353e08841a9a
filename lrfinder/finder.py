"""The finder as a library call: `find_lr` on a Keras model and data in memory. The flow's sweep
and select tasks call it too, so a notebook and a scheduled run take one path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lrfinder.engine.groups import HERE, Placement
from lrfinder.engine.recipe import Recipe
from lrfinder.engine.setup import recipe_fingerprint
from lrfinder.lr.arguments import (
    ClassWeight,
    check_classes,
    labels,
    matrix,
    recipe_for,
    seed_list,
)
from lrfinder.lr.range_test import RangeTestResult, run_range_test
from lrfinder.lr.selection import Selection, select_rate
from lrfinder.params import (
    RangeTestSettings,
    SelectionSettings,
    TrainingProtocol,
    TrainingSettings,
)

NO_VALIDATION = (
    "validation_data: the confirmation trains candidates on validation data, and none was given. "
    "Fix: pass validation_data=(x_val, y_val), or SelectionSettings(confirm=False)."
)


@dataclass(frozen=True)
class FoundRate:
    """What `find_lr` found: the range test's curves, each reading's rate, the chosen rate and
    how it was chosen, and (after a confirmation) the replicas trained at that rate."""

    recipe: Recipe
    seeds: list[int]
    range_test: RangeTestResult
    selection: Selection

    @property
    def curves(self) -> pd.DataFrame:
        """The tidy range-test table: one row per replica and step (`lr`, `loss`, ...)."""
        return self.range_test.table

    @property
    def suggestions(self) -> dict[str, float | None]:
        """Each curve reading's rate (median over replicas; None where it read no curve)."""
        aggregates = self.selection.aggregates
        return {name: agg.suggested for name, agg in aggregates.items()}

    @property
    def chosen_lr(self) -> float:
        return self.selection.chosen_lr

    @property
    def chosen_by(self) -> Literal["confirmation", "curve reading"]:
        """confirmation (candidates trained on the validation data) or curve reading (no
        validation data, or confirm=False)."""
        return "curve reading" if self.selection.confirmation is None else "confirmation"

    @property
    def reason(self) -> str:
        return self.selection.reason

    @property
    def warnings(self) -> list[str]:
        return list(self.selection.warnings)

    @property
    def fingerprint(self) -> str:
        """Content hash (cache keys): the curves, the recipe and the seeds."""
        return recipe_fingerprint(self.recipe, self.seeds, self.range_test.fingerprint)

    def plot(self) -> Figure:
        """The range-test chart (`lr_finder.png` of a flow run): each replica's smoothed loss
        against the rate, the median, each reading and the chosen rate."""
        from lrfinder.reporting.plots import lr_finder_chart

        return lr_finder_chart(self.curves, self.selection.aggregates, self.chosen_lr)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain values: `chosen_lr`, `chosen_by`, `suggestions`, and the range
        test's and the selection's summaries (`range_test.json`, `selection.json`)."""
        from lrfinder.reporting.outputs import selection_record

        return {
            "chosen_lr": self.chosen_lr,
            "chosen_by": self.chosen_by,
            "suggestions": self.suggestions,
            "range_test": self.range_test.summary,
            "selection": selection_record(self.selection),
        }

    def select(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation_data: tuple[np.ndarray, np.ndarray] | None,
        settings: SelectionSettings | None = None,
        protocol: TrainingProtocol | None = None,
        placement: Placement = HERE,
        data_warnings: tuple[str, ...] = (),
    ) -> FoundRate:
        """This result with its rate chosen by `settings` (default: `SelectionSettings()`,
        confirmed on `validation_data` when there is some, in a race under `protocol`, default
        `TrainingSettings().protocol`; else the curve reading)."""
        return _selected(
            self.recipe,
            self.seeds,
            self.range_test,
            (x, y),
            validation_data,
            settings,
            protocol,
            placement,
            data_warnings,
        )

    def final_model(
        self,
        kind: Literal["ensemble", "single"] = "ensemble",
        refit_on: tuple[Any, Any] | None = None,
    ) -> Any:
        """The model at the chosen rate as one Keras model: the race winner's replicas (best
        epoch restored, no second training), averaged (`ensemble`) or the first seed's
        (`single`). With `refit_on=(x, y)` (typically the training and validation rows
        together), each seed trains again from scratch on those rows for the epochs its
        race run found (best epoch + 1), as the flow's refit does.

        Example:

        ```python
        found = lrfinder.find_lr(model, x, y, validation_data=(x_val, y_val))
        final = found.final_model()
        final.predict(x_test)
        ```
        """
        from lrfinder.model.network import to_keras

        if not self.selection.chosen_replicas:
            raise ValueError(
                "final_model: no replicas were trained at the chosen rate (it is a curve "
                "reading). Fix: pass validation_data to find_lr, so that the confirmation "
                f"trains them, or train the model yourself at lr {self.chosen_lr:.4g}."
            )
        if kind not in ("ensemble", "single"):
            raise ValueError(f"kind: {kind!r} is not a kind. Fix: use 'ensemble' or 'single'.")
        replicas = list(self.selection.chosen_replicas)
        if refit_on is not None:
            replicas = self._refit(refit_on)
        return to_keras(self.recipe.network, replicas if kind == "ensemble" else replicas[:1])

    def _refit(self, data: tuple[Any, Any]) -> list[list[np.ndarray]]:
        """Each seed's variables after training from scratch on `data` at the chosen rate for
        the epochs its confirmation run found."""
        from lrfinder.training.final import why_no_refit
        from lrfinder.training.fit import refit_replicas

        x = matrix(data[0], "refit_on[0]")
        y = labels(data[1], "refit_on[1]", len(x), "refit_on[0]")
        check_classes(y, self.recipe.network.head, "refit_on[1]")
        trained_rows = self.range_test.summary["train_rows"]
        if reason := why_no_refit(trained_rows, max(len(x) - trained_rows, 1), self.recipe):
            raise ValueError(f"refit_on: {reason}.")
        epochs = self.selection.confirmation.final.epochs[: len(self.seeds)]
        rates = [self.chosen_lr] * len(self.seeds)
        fit = refit_replicas(x, y, rates, self.seeds, self.recipe, epochs)
        return [state.variables for state in fit.states]


def find_lr(
    model: Any,
    x: Any,
    y: Any,
    *,
    validation_data: tuple[Any, Any] | None = None,
    seeds: int | list[int] = 8,
    optimizer: Any = None,
    loss: Any = None,
    batch_size: int = 32,
    task: str | None = None,
    class_weight: ClassWeight = None,
    max_epoch_steps: int | None = 200,
    range_test: RangeTestSettings | None = None,
    selection: SelectionSettings | None = None,
    training: TrainingSettings | None = None,
    placement: Placement = HERE,
    data_warnings: tuple[str, ...] = (),
) -> FoundRate:
    """Find a learning rate for a Keras model: a range test of `seeds` replicas at once, read by
    every suggestion method, then (with `validation_data`) confirmed by training candidate
    rates around the reading on the validation data.

    The model is not modified: each replica starts from weights drawn by the model's own
    initializers with its own seed, and trains with the model's optimizer and loss (or those
    given), through the model's own `train_step`.

    Args:
        model: A Keras model taking a matrix of rows by features, compiled or not; or a
            `Recipe` (the network with its optimizer, loss and batch size, as the flow builds it
            from its settings), which then replaces `optimizer`, `loss`, `batch_size`, `task`,
            `class_weight` and `max_epoch_steps`.
        x: Features, a NumPy array or pandas frame (rows, features), already scaled and encoded
            as the model takes them: `find_lr` does no preprocessing.
        y: Labels: 0/1 for binary, class indices for several classes, numbers for regression.
        validation_data: `(x_val, y_val)`; without it there is no confirmation, and the chosen
            rate is the curve reading.
        seeds: How many replicas (seeds 0, 1, ...), or the seeds themselves.
        optimizer: A built-in Keras optimizer or its name; default: the model's compiled one,
            else adam.
        loss: A Keras loss or its name; default: the model's compiled one, else the task's.
        batch_size: Rows per training batch.
        task: binary, multiclass or regression; default: multiclass for several outputs,
            binary for one output and 0/1 labels, else regression.
        class_weight: `{class: weight}` as `fit` takes it, or "balanced".
        max_epoch_steps: Longest epoch in steps (the unit of the confirmation's epochs).
        range_test: The range test's settings (rates, steps, stopping).
        selection: The reading and the race's settings (`first_rung_epochs`, `tie_rule`, ...).
        training: The final training's settings, whose protocol the race trains under
            (`max_epochs`, `patience`, `baseline_lr`).
        placement: Where replica groups run (the flow's Dask or Ray placement).
        data_warnings: Doubts about the data, put first in the result's warnings.

    Returns:
        A `FoundRate`: `.curves`, `.suggestions`, `.chosen_lr` and `.chosen_by`, `.plot()`,
        `.to_dict()` and `.final_model()`.

    Example:

    ```python
    import lrfinder
    found = lrfinder.find_lr(model, x_train, y_train, validation_data=(x_val, y_val))
    found.chosen_lr, found.chosen_by
    found.plot()
    model = found.final_model()
    ```
    """
    if selection is not None and selection.confirm and validation_data is None:
        raise ValueError(NO_VALIDATION)
    features = matrix(x, "x")
    targets = labels(y, "y", len(features), "x")
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise ValueError(
                "validation_data: expected a tuple (x_val, y_val). Fix: pass "
                "validation_data=(x_val, y_val), or leave it out."
            )
        x_val = matrix(validation_data[0], "validation_data[0]")
        if x_val.shape[1] != features.shape[1]:
            raise ValueError(
                f"validation_data[0] has {x_val.shape[1]} features but x has "
                f"{features.shape[1]}. Fix: give the same columns, in the same order."
            )
        y_val = labels(validation_data[1], "validation_data[1]", len(x_val), "validation_data[0]")
        val = (x_val, y_val)
    recipe = (
        model
        if isinstance(model, Recipe)
        else recipe_for(
            model,
            features.shape[1],
            targets,
            optimizer=optimizer,
            loss=loss,
            batch_size=batch_size,
            max_epoch_steps=max_epoch_steps,
            task=task,
            class_weight=class_weight,
        )
    )
    if recipe.network.n_features != features.shape[1]:
        raise ValueError(
            f"x has {features.shape[1]} features, but the recipe's network takes "
            f"{recipe.network.n_features}. Fix: give the data the network was made for."
        )
    if val is not None:
        check_classes(val[1], recipe.network.head, "validation_data[1]")
    seed_values = seed_list(seeds)
    x_val, y_val = val or (None, None)
    settings = range_test or RangeTestSettings()
    curves = run_range_test(
        features, targets, recipe, seed_values, settings, x_val, y_val, placement
    )
    data = (features, targets)
    protocol = training.protocol if training is not None else None
    return _selected(
        recipe, seed_values, curves, data, val, selection, protocol, placement, data_warnings
    )


def _selected(
    recipe: Recipe,
    seeds: list[int],
    curves: RangeTestResult,
    data: tuple[np.ndarray, np.ndarray],
    validation_data: tuple[np.ndarray, np.ndarray] | None,
    settings: SelectionSettings | None,
    protocol: TrainingProtocol | None,
    placement: Placement,
    data_warnings: tuple[str, ...],
) -> FoundRate:
    """The rate chosen from `curves` by `settings` (default: confirmed on `validation_data` when
    there is some, else the curve reading)."""
    settings = settings or SelectionSettings(confirm=validation_data is not None)
    if settings.confirm and validation_data is None:
        raise ValueError(NO_VALIDATION)
    protocol = (protocol or TrainingSettings().protocol) if settings.confirm else None
    x, y = data
    x_val, y_val = validation_data or (x[:0], y[:0])
    selection = select_rate(
        curves.table,
        x,
        y,
        x_val,
        y_val,
        recipe,
        seeds,
        settings,
        protocol,
        placement,
        data_warnings,
    )
    return FoundRate(recipe, seeds, curves, selection)
