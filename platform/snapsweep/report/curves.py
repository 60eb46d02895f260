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
from snapsweep.track.plots import tokens_axis


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
