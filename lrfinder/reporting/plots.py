"""Charts as matplotlib Figures (Agg canvas, no pyplot state); the caller saves them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from lrfinder.lr.suggest import Aggregate

MARKERS = {"valley": "o", "steepest": "s", "minimum/10": "^", "argmin": "v"}


def _figure() -> tuple[Figure, object]:
    figure = Figure(figsize=(8, 5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def _log_rate_axis(ax) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("learning rate")


def lr_finder_chart(
    curves: pd.DataFrame, aggregates: dict[str, Aggregate], chosen_lr: float | None = None
) -> Figure:
    """Smoothed loss against rate (log axis): every replica faint, the median bold, each
    method's aggregate suggestion marked on the median curve and labelled."""
    figure, ax = _figure()
    column = "smoothed_loss" if curves["smoothed_loss"].notna().any() else "loss"
    for _, replica in curves.groupby("replica"):
        ax.plot(replica["lr"], replica[column], color="tab:blue", alpha=0.25, linewidth=0.8)
    median = curves.groupby("lr")[column].median().dropna()
    ax.plot(
        median.index, median.to_numpy(), color="tab:blue", linewidth=2.2, label="median of replicas"
    )
    for name, agg in aggregates.items():
        y = float(np.interp(np.log10(agg.lr), np.log10(median.index), median.to_numpy()))
        ax.plot(
            agg.lr,
            y,
            MARKERS.get(name, "o"),
            markersize=9,
            label=f"{name}: {agg.lr:.2g} (spread {agg.spread:.1f}x)",
        )
    if chosen_lr is not None:
        ax.axvline(chosen_lr, color="tab:red", linestyle="--", label=f"chosen: {chosen_lr:.2g}")
    low, start = float(median.min()), float(median.iloc[0])
    drop = max(start - low, 1e-3)
    ax.set_ylim(low - 0.5 * drop, min(float(median.max()), low + 3 * drop))
    _log_rate_axis(ax)
    ax.set_ylabel(f"training loss ({column.replace('_', ' ')})")
    ax.set_title(f"Learning-rate range test, {curves['replica'].nunique()} replicas")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return figure


def confirmation_chart(by_rate: pd.DataFrame, chosen_lr: float, metric: str) -> Figure:
    """Median validation metric per candidate rate, seed quartiles as error bars."""
    figure, ax = _figure()
    errors = np.vstack([by_rate["median"] - by_rate["q25"], by_rate["q75"] - by_rate["median"]])
    ax.errorbar(
        by_rate["lr"],
        by_rate["median"],
        yerr=errors,
        fmt="o-",
        capsize=4,
        label=f"median {metric} (quartiles across seeds)",
    )
    ax.axvline(chosen_lr, color="tab:red", linestyle="--", label=f"chosen: {chosen_lr:.2g}")
    _log_rate_axis(ax)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title("Confirmation on the validation split")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return figure


def training_curves_chart(history: pd.DataFrame) -> Figure:
    """Loss and accuracy per epoch, train and validation, chosen and baseline (median over seeds)."""
    figure = Figure(figsize=(11, 4.5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    colours = {"chosen": "tab:red", "baseline": "tab:gray"}
    for stage, dash in (("fit", "-"), ("refit", ":")):
        part = history[history["stage"] == stage]
        for model, rows in part.groupby("model"):
            median = rows.groupby("epoch")[
                ["loss", "accuracy", "val_loss", "val_accuracy"]
            ].median()
            lr = rows["lr"].iloc[0]
            for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
                label = f"{model} ({lr:.2g}) train" + (" (refit)" if stage == "refit" else "")
                ax.plot(median.index, median[metric], dash, color=colours[model], label=label)
                if median[f"val_{metric}"].notna().any():
                    ax.plot(
                        median.index,
                        median[f"val_{metric}"],
                        "--",
                        color=colours[model],
                        alpha=0.7,
                        label=f"{model} validation",
                    )
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle("Training curves (median over seeds)")
    return figure


def confusion_matrix_chart(chosen: dict, baseline: dict) -> Figure:
    """The final models' confusion matrices on the test set, side by side."""
    figure = Figure(figsize=(9, 4), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    for ax, (name, metrics) in zip(
        figure.subplots(1, 2), (("chosen", chosen), ("baseline", baseline)), strict=True
    ):
        matrix = np.array(metrics["confusion_matrix"])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", color="black", fontsize=12)
        ax.set_xticks([0, 1], ["predicted 0", "predicted 1"])
        ax.set_yticks([0, 1], ["actual 0", "actual 1"])
        ax.set_title(f"{name}: accuracy {metrics['accuracy']:.3f}")
    return figure


def roc_chart(y_true: np.ndarray, chosen: np.ndarray, baseline: np.ndarray) -> Figure:
    """ROC curves of the final chosen-rate and baseline models on the test set."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, ax = _figure()
    for name, probability, colour in (
        ("chosen", chosen, "tab:red"),
        ("baseline", baseline, "tab:gray"),
    ):
        fpr, tpr, _ = roc_curve(y_true, probability)
        ax.plot(
            fpr, tpr, color=colour, label=f"{name} (AUC {roc_auc_score(y_true, probability):.3f})"
        )
    ax.plot([0, 1], [0, 1], ":", color="black", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC on the test set")
    ax.legend()
    return figure
