"""Charts as matplotlib Figures (Agg canvas, no pyplot state); the caller saves them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from lrfinder.lr.suggest import Aggregate
from lrfinder.reporting.history import RunRecord
from lrfinder.training.results import Comparison

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
        if not agg.read:
            continue
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
    """Median validation metric per rate in the race (best epoch, seed quartiles as error bars),
    one series per epoch budget the rates reached before the race left them."""
    figure, ax = _figure()
    for budget, rows in by_rate.groupby("budget"):
        errors = np.vstack([rows["median"] - rows["q25"], rows["q75"] - rows["median"]])
        ax.errorbar(
            rows["lr"],
            rows["median"],
            yerr=errors,
            fmt="o",
            capsize=4,
            label=f"trained up to {budget} epochs",
        )
    ax.axvline(chosen_lr, color="tab:red", linestyle="--", label=f"chosen: {chosen_lr:.2g}")
    _log_rate_axis(ax)
    ax.set_ylabel(f"median {metric.replace('_', ' ')} (quartiles across seeds)")
    ax.set_title("The race on the validation split")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return figure


def training_curves_chart(history: pd.DataFrame) -> Figure:
    """Loss and (for classes) accuracy per epoch, train and validation, chosen and baseline
    (median over seeds)."""
    metrics = ("loss", "accuracy") if history["accuracy"].notna().any() else ("loss",)
    figure = Figure(figsize=(5.5 * len(metrics), 4.5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(1, len(metrics)))
    colours = {"chosen": "tab:red", "baseline": "tab:gray"}
    for stage, dash in (("fit", "-"), ("refit", ":")):
        part = history[history["stage"] == stage]
        for model, rows in part.groupby("model"):
            median = rows.groupby("epoch")[
                ["loss", "accuracy", "val_loss", "val_accuracy"]
            ].median()
            lr = rows["lr"].iloc[0]
            for ax, metric in zip(axes, metrics, strict=True):
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
    for ax, metric in zip(axes, metrics, strict=True):
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


def class_confusion_chart(chosen: dict, baseline: dict, classes: list[str]) -> Figure:
    """k x k confusion heatmaps of both final models, each row (true class) normalised to 1,
    with the counts written in the cells."""
    figure = Figure(figsize=(12, 5.5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    ticks = list(range(len(classes)))
    for ax, (name, metrics) in zip(
        figure.subplots(1, 2), (("chosen", chosen), ("baseline", baseline)), strict=True
    ):
        counts = np.array(metrics["confusion_matrix"])
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (i, j), count in np.ndenumerate(counts):
            colour = "white" if shares[i, j] > 0.6 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=9)
        ax.set_xticks(ticks, classes)
        ax.set_yticks(ticks, classes)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(
            f"{name}: accuracy {metrics['accuracy']:.3f}, "
            f"balanced {metrics['balanced_accuracy']:.3f}"
        )
    figure.colorbar(image, ax=figure.axes, shrink=0.8, label="share of the true class")
    figure.suptitle("Confusion matrices on the test set (colour: share of the true class)")
    return figure


def class_recall_chart(chosen: dict, baseline: dict) -> Figure:
    """Recall per class of both final models, with each class's test rows."""
    figure, ax = _figure()
    classes = list(chosen["per_class"])
    positions = np.arange(len(classes))
    for offset, (name, metrics, colour) in zip(
        (-0.2, 0.2),
        (("chosen", chosen, "tab:red"), ("baseline", baseline, "tab:gray")),
        strict=True,
    ):
        recall = [metrics["per_class"][c]["recall"] for c in classes]
        ax.bar(positions + offset, recall, width=0.4, color=colour, label=name)
    rows = [chosen["per_class"][c]["rows"] for c in classes]
    ax.set_xticks(positions, [f"{c}\n({n} rows)" for c, n in zip(classes, rows, strict=True)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall")
    ax.set_title("Recall per class on the test set")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    return figure


def _jitter(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """Integer-valued truths spread a little sideways, so rows on one value do not hide each
    other; other values as they are."""
    if not np.allclose(values, np.round(values)):
        return values
    return values + np.random.default_rng(seed).uniform(-0.2, 0.2, len(values))


def predicted_vs_true_chart(y_true: np.ndarray, predicted: dict[str, np.ndarray]) -> Figure:
    """Each final model's prediction against the truth (jittered when the truth is an
    integer score), with the identity line."""
    figure, ax = _figure()
    for (name, values), colour in zip(predicted.items(), ("tab:red", "tab:gray"), strict=False):
        ax.scatter(_jitter(y_true), values, s=6, alpha=0.35, color=colour, label=name)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    ax.plot([low, high], [low, high], ":", color="black", linewidth=1, label="prediction = truth")
    ax.set_xlabel("true value" + (" (jittered)" if np.allclose(y_true, np.round(y_true)) else ""))
    ax.set_ylabel("predicted value")
    ax.set_title("Predicted against true on the test set")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return figure


def residuals_chart(y_true: np.ndarray, predicted: np.ndarray) -> Figure:
    """Residuals (truth minus prediction) of the chosen-rate model against its prediction."""
    figure, ax = _figure()
    ax.scatter(predicted, y_true - predicted, s=6, alpha=0.35, color="tab:red")
    ax.axhline(0.0, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("predicted value (chosen rate)")
    ax.set_ylabel("residual (true - predicted)")
    ax.set_title("Residuals on the test set")
    ax.grid(True, alpha=0.3)
    return figure


def result_charts(task: str, test: Comparison, predictions: pd.DataFrame) -> dict[str, Figure]:
    """The test-set charts of a task, by file name."""
    chosen, baseline = test.chosen.final, test.baseline.final
    if task == "binary":
        return {
            "confusion_matrix.png": confusion_matrix_chart(chosen, baseline),
            "roc.png": roc_chart(
                predictions["y_true"], predictions["prob_chosen"], predictions["prob_baseline"]
            ),
        }
    if task == "multiclass":
        return {
            "confusion_matrix.png": class_confusion_chart(
                chosen, baseline, list(chosen["per_class"])
            ),
            "class_recall.png": class_recall_chart(chosen, baseline),
        }
    y_true = predictions["y_true"].to_numpy()
    predicted = {name: predictions[f"pred_{name}"].to_numpy() for name in ("chosen", "baseline")}
    return {
        "predicted_vs_true.png": predicted_vs_true_chart(y_true, predicted),
        "residuals.png": residuals_chart(y_true, predicted["chosen"]),
    }


def history_chart(history: list[RunRecord]) -> Figure:
    """The run history over time: the chosen rate (log axis) above the headline test metric
    with its 95 % interval, promoted runs ringed; one marker per run."""
    figure = Figure(figsize=(8, 6), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    rate_ax, metric_ax = figure.subplots(2, 1, sharex=True)
    started = [r.started for r in history]
    rate_ax.plot(started, [r.chosen_lr for r in history], "o-", color="tab:blue", label="chosen")
    rate_ax.plot(
        started, [r.baseline_lr for r in history], "--", color="tab:gray", label="baseline"
    )
    rate_ax.set_yscale("log")
    rate_ax.set_ylabel("learning rate")
    rate_ax.legend(loc="best")
    names = sorted({r.metric for r in history})
    for name in names:
        runs = [r for r in history if r.metric == name]
        values = np.array([r.chosen.value for r in runs])
        low, high = np.array([r.chosen.bounds for r in runs]).T
        metric_ax.errorbar(
            [r.started for r in runs],
            values,
            yerr=[np.maximum(values - low, 0), np.maximum(high - values, 0)],
            fmt="o-",
            capsize=3,
            label=f"test {name} (95 % interval)",
        )
        promoted = [r for r in runs if r.promoted]
        metric_ax.scatter(
            [r.started for r in promoted],
            [r.chosen.value for r in promoted],
            s=160,
            facecolors="none",
            edgecolors="tab:green",
            linewidths=2,
            label="promoted",
        )
    metric_ax.set_ylabel("test metric")
    metric_ax.set_xlabel("run start (UTC)")
    metric_ax.legend(loc="best")
    figure.autofmt_xdate()
    return figure
