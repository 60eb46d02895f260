"""The report's figure: learning curves, one panel per cell × density, one line per method.

Each line is the mean over seeds at the learning rate the table chose, with a ±1 standard deviation
band. Matplotlib's object API with the Agg canvas: no pyplot global state, no display.
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from snapsweep.report.table import Report, format_lr
from snapsweep.track.plots import label_axes, save_png


def curves_png(report: Report, path: str | os.PathLike, *, max_cols: int = 4) -> Path:
    n = max(len(report.columns), 1)
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.8 * cols, 3.8 * rows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    better = "lower" if report.metric.goal == "min" else "higher"
    # Wrapped to the figure's width: a one-panel figure is narrow and would cut a long title.
    title = (f"{report.sweep}: {report.metric.label} ({better} is better); "
             "mean ± std over seeds at the best learning rate")
    fig.suptitle(textwrap.fill(title, width=48 * cols), fontsize="medium")
    # One colour per method across every panel, so a method is the same line everywhere.
    colours = {m: f"C{i % 10}" for i, m in enumerate(report.methods)}
    if not report.columns:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no finished runs", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    for i, column in enumerate(report.columns):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_title(f"{column[0]}, density {column[1]:g}")
        x_label = "tokens"
        drawn = 0
        for method in report.methods:
            curve = report.curves.get((method, column))
            cell = report.cell(method, column)
            if curve is None or cell is None:
                continue
            x, mean, std = (np.asarray(v, dtype=float) for v in (curve.x, curve.mean, curve.std))
            label = f"{method} (lr {format_lr(cell.lr)}, {curve.n_seeds} seeds)"
            ax.plot(x, mean, color=colours[method], linewidth=1.4, label=label)
            ax.fill_between(x, mean - std, mean + std, color=colours[method], alpha=0.2, linewidth=0)
            x_label = curve.x_label
            drawn += 1
        if not drawn:
            why = "no runs" if report.curves else "curves not read (build with curves=True)"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="0.4")
        else:
            ax.legend(fontsize="small")
        label_axes(ax, x_label, report.metric.label)
    return save_png(fig, path)
