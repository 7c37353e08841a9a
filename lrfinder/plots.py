"""Charts as matplotlib Figures (Agg canvas, no pyplot state); the caller saves them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from lrfinder.suggest import Aggregate

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
    ax.set_title("Confirmation sweep on the validation split")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return figure
