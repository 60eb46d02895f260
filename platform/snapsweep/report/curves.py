"""Mean learning curve over the seeds of one table cell, read back from MLflow.

Each seed's curve is put on its own x axis first (tokens consumed, from that seed's `tokens`
metric; offline and online runs, or seeds from different packs, consume tokens at different steps),
then every seed is interpolated onto one common token grid (every seed's x values inside the range
all seeds cover) before the mean and the standard deviation are taken. Integer levels (a
curriculum level) are held, not interpolated: a level is what was reached, never a fraction.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from snapsweep.report.table import Curve
from snapsweep.track.client import Tracker
from snapsweep.track.metrics import TOKENS, metric_info

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


def common_grid(seeds: Sequence[tuple[np.ndarray, np.ndarray]], *, hold: bool = False):
    """[(x, y)] per seed (x increasing) -> (grid, values [seeds, grid]): every seed's x inside the
    range all seeds cover, each seed linearly interpolated there (`hold`: its last value at or
    before each grid point)."""
    lo = max(float(x[0]) for x, _ in seeds)
    hi = min(float(x[-1]) for x, _ in seeds)
    grid = np.unique(np.concatenate([x[(x >= lo) & (x <= hi)] for x, _ in seeds]))
    if hold:
        values = [y[np.searchsorted(x, grid, side="right") - 1] for x, y in seeds]
    else:
        values = [np.interp(grid, x, y) for x, y in seeds]
    return grid, np.asarray(values, dtype=float)


def mean_curve(tracker: Tracker, run_ids: Sequence[str], key: str) -> Optional[Curve]:
    seeds, x_label = [], "tokens"
    for run_id in run_ids:
        history = tracker.metric_history(run_id, key)
        if not history:
            continue
        tokens = tracker.metric_history(run_id, TOKENS) or None
        x, x_label = tokens_axis([s for s, _ in history], tokens)
        y = np.asarray([v for _, v in history], dtype=float)
        y[np.abs(y) >= np.finfo(float).max] = np.nan  # MLflow's stand-in for infinity
        order = np.argsort(x, kind="stable")
        seeds.append((x[order], y[order]))
    if not seeds:
        return None
    grid, values = common_grid(seeds, hold=metric_info(key).integer)
    if not len(grid):
        return None  # the seeds' curves do not overlap
    with warnings.catch_warnings():  # a point where every seed is NaN stays NaN: a gap in the line
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0, ddof=1) if len(seeds) > 1 else np.zeros(len(grid))
    return Curve(tuple(map(float, grid)), tuple(map(float, mean)), tuple(map(float, std)), x_label, len(seeds))
