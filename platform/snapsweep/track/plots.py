"""The learning-curve figure of one member run, drawn when the run finishes.

Matplotlib's object API with the Agg canvas (no pyplot): no global figure state, no display needed,
safe in Ray worker processes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from snapsweep.track.metrics import metric_info

History = Sequence[tuple[int, float]]


def tokens_axis(steps: Sequence[int], tokens: Optional[History]) -> tuple[np.ndarray, str]:
    """x values for `steps`: tokens consumed when the trainer logged them, else the update count.

    Tokens are interpolated between logged points, so a metric logged at other steps (evaluations)
    still lands at the right place.
    """
    steps_arr = np.asarray(steps, dtype=float)
    if tokens:
        t_steps = np.asarray([s for s, _ in tokens], dtype=float)
        t_vals = np.asarray([v for _, v in tokens], dtype=float)
        if len(t_steps) == 1:  # one point: assume tokens grow in proportion to updates
            rate = t_vals[0] / t_steps[0] if t_steps[0] else 0.0
            return steps_arr * rate, "tokens"
        # Extrapolate linearly past the ends (np.interp would clamp).
        slope = (t_vals[-1] - t_vals[0]) / (t_steps[-1] - t_steps[0]) if t_steps[-1] != t_steps[0] else 0.0
        x = np.interp(steps_arr, t_steps, t_vals)
        x = np.where(steps_arr > t_steps[-1], t_vals[-1] + (steps_arr - t_steps[-1]) * slope, x)
        x = np.where(steps_arr < t_steps[0], t_vals[0] + (steps_arr - t_steps[0]) * slope, x)
        return x, "tokens"
    return steps_arr, "updates"


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
