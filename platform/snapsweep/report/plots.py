"""The figures of snapsweep: a member run's learning curves, and the report's curves per cell × density.

A member figure has one panel per metric against tokens; the report figure has one panel per
cell × density and one line per method: the mean over seeds at the learning rate the table chose,
with a ±1 standard deviation band. Matplotlib's object API with the Agg canvas (no pyplot): no
global figure state, no display needed, safe in Ray worker processes.
"""

from __future__ import annotations

import logging
import math
import os
import textwrap
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from snapsweep.report.curves import History, tokens_axis
from snapsweep.report.table import Report, format_lr
from snapsweep.track import tags as T
from snapsweep.track.metrics import CURVE_KEYS, TOKENS, metric_info

log = logging.getLogger(__name__)


def member_curves_png(
    histories: Mapping[str, History],
    tokens: Optional[History],
    path: str | os.PathLike,
    *,
    title: str,
) -> Path:
    """One panel per metric in `histories` (in the given order), against tokens; writes a PNG."""
    keys = [k for k, h in histories.items() if h]
    n = max(len(keys), 1)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.5 * cols, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    if not keys:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no metrics logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    for i, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, i + 1)
        steps = [s for s, _ in histories[key]]
        values = np.asarray([v for _, v in histories[key]], dtype=float)
        # Diverged points (NaN, or +-inf stored as +-float max) would flatten the axis to nothing.
        values[~np.isfinite(values) | (np.abs(values) >= np.finfo(float).max)] = np.nan
        x, x_label = tokens_axis(steps, tokens)
        info = metric_info(key)
        ax.plot(x, values, marker="." if len(values) < 50 else None, linewidth=1.2)
        ax.set_title(key)
        label_axes(ax, x_label, info.label)
    return save_png(fig, path)


def label_axes(ax, x_label: str, y_label: str) -> None:
    """The axis style every snapsweep curve shares: engineering-notation x (tokens), light grid."""
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.grid(True, alpha=0.3)


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def member_figure(tracker, run_id: str, directory: str | os.PathLike) -> Optional[Path]:
    """learning_curves.png of one member run from what MLflow holds, for `Tracker.finish(plot=...)`;
    None when the run logged no curve (a sweep's parent run) or the figure cannot be drawn."""
    record = tracker.run(run_id)
    keys = [k for k in CURVE_KEYS if k in record.metrics]
    if not keys:
        return None
    histories = {k: tracker.metric_history(run_id, k) for k in keys}
    tokens = tracker.metric_history(run_id, TOKENS) if TOKENS in record.metrics else None
    title = record.tags.get(T.RUN_NAME) or run_id
    trial = record.trial_id
    if trial and not trial.startswith(title):  # the default run name is the trial id's head
        title = f"{title} (trial {trial[:12]})"
    try:
        return member_curves_png(histories, tokens, Path(directory, "learning_curves.png"), title=title)
    except (ValueError, RuntimeError, OverflowError) as err:
        # The numbers are in MLflow already; a figure that cannot be drawn must not fail the run.
        log.warning("could not draw the learning curves of run %s: %s", run_id, err)
        return None


# Colour, line style and marker together tell methods apart, also where their lines coincide
# (equal methods at density 1, a method on the floor of the task) or in a greyscale print.
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def method_styles(methods) -> dict[str, dict]:
    """One style per method, the same in every panel and figure of a report."""
    return {m: {"color": f"C{i % 10}", "linestyle": LINESTYLES[i % len(LINESTYLES)],
                "marker": MARKERS[i % len(MARKERS)]} for i, m in enumerate(methods)}


def curves_png(report: Report, path: str | os.PathLike, key: Optional[str] = None, *, max_cols: int = 4) -> Path:
    """One panel per cell × density, one line per method (mean ± std over seeds) of metric `key`
    (default: the report's headline metric)."""
    info = report.metric if key in (None, report.metric.key) else metric_info(key)
    curves = report.curves.get(info.key, {})
    n = max(len(report.columns), 1)
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.8 * cols, 3.8 * rows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    better = "lower" if info.goal == "min" else "higher"
    # Wrapped to the figure's width: a one-panel figure is narrow and would cut a long title.
    title = (f"{report.sweep}: {info.label} ({better} is better); "
             f"mean ± std over seeds at the learning rate chosen by {report.metric.key}")
    fig.suptitle(textwrap.fill(title, width=48 * cols), fontsize="medium")
    styles = method_styles(report.methods)
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
            curve = curves.get((method, column))
            cell = report.cell(method, column)
            if curve is None or cell is None:
                continue
            x, mean, std = (np.asarray(v, dtype=float) for v in (curve.x, curve.mean, curve.std))
            seeds = "n=1" if curve.n_seeds == 1 else f"{curve.n_seeds} seeds"
            label = f"{method} (lr {format_lr(cell.lr)}, {seeds})"
            # Integer levels change at a point and stay: steps, not ramps between evaluations.
            step = "post" if info.integer else None
            ax.plot(x, mean, linewidth=1.4, label=label, drawstyle=f"steps-{step}" if step else "default",
                    markevery=max(1, len(x) // 8), markersize=4, **styles[method])
            if curve.n_seeds > 1:
                ax.fill_between(x, mean - std, mean + std, color=styles[method]["color"], alpha=0.15,
                                linewidth=0, step=step)
            x_label = curve.x_label
            drawn += 1
        if not drawn:
            why = "not logged" if report.curves else "curves not read (build with curves=True)"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="0.4")
        else:
            ax.legend(fontsize="small")
        label_axes(ax, x_label, info.label)
    return save_png(fig, path)
