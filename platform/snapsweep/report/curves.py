"""Mean learning curve over the seeds of one table cell, read back from MLflow.

Seeds of one pack log at the same steps; seeds from different packs (seeds added to a spec later)
may not, so the mean is taken over the steps every seed has. x is tokens consumed, interpolated
from the trainer's `tokens` metric (the same for every seed of a cell: same batch and crop).
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from snapsweep.report.table import Curve
from snapsweep.track.client import Tracker
from snapsweep.track.metrics import TOKENS

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


def mean_curve(tracker: Tracker, run_ids: Sequence[str], key: str) -> Optional[Curve]:
    histories = [dict(tracker.metric_history(run_id, key)) for run_id in run_ids]
    histories = [h for h in histories if h]
    if not histories:
        return None
    steps = sorted(set.intersection(*(set(h) for h in histories)))
    if not steps:
        return None
    values = np.asarray([[h[s] for s in steps] for h in histories], dtype=float)
    values[np.abs(values) >= np.finfo(float).max] = np.nan  # MLflow's stand-in for infinity
    with warnings.catch_warnings():  # a step where every seed is NaN stays NaN: a gap in the line
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0, ddof=1) if len(histories) > 1 else np.zeros(len(steps))
    x, x_label = tokens_axis(steps, tracker.metric_history(run_ids[0], TOKENS) or None)
    return Curve(tuple(map(float, x)), tuple(map(float, mean)), tuple(map(float, std)), x_label, len(histories))
