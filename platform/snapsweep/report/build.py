"""Rebuild a sweep's tables and plots from what MLflow holds, write them, log them to the sweep.

Everything comes from the member runs' tags, parameters and metrics, so a report can be rebuilt at
any time, by anyone who can reach the tracking server, without the sweep's checkpoints.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from snapsweep.errors import ConfigError, TrackingError
from snapsweep.report.coords import Column, coords, metric_of, task_of
from snapsweep.report.curves import mean_curve
from snapsweep.report.plots import curves_png
from snapsweep.report.select import make_cell
from snapsweep.report.table import Cost, Report
from snapsweep.track import tags as T
from snapsweep.track.client import Tracker
from snapsweep.track.metrics import COST_KEYS, SIDE_CURVES, metric_info
from snapsweep.track.records import RunRecord, is_finite

REPORT_DIR = "report"  # artifact directory on the parent run


def build(
    tracker: Tracker,
    experiment: str,
    sweep_name: str,
    metric: Optional[str] = None,
    *,
    goal: Optional[Literal["min", "max"]] = None,
    statuses: tuple[str, ...] = ("FINISHED",),
    curves: bool = True,
) -> Report:
    """The table of `sweep_name` in `experiment`.

    `metric`: None picks the task's headline metric (tasks.info.TaskInfo.metric: valid_bpc for the
    LM, curriculum_level for the copy task), read from the runs' metric tag.
    `statuses`: runs counted (unfinished runs would report a value from mid-training); a FAILED
    run that diverged (the sweep ends diverged members as FAILED) always counts, as diverged.
    `curves`: also read the metric histories for the learning-curve plot.
    """
    runs = tracker.member_runs(experiment, sweep_name)
    if not runs:
        raise TrackingError(
            f"no member runs of sweep {sweep_name!r} in experiment {experiment!r} at {tracker.uri}",
            where="report",
            fix="check the experiment and sweep names (`mlflow ui` lists them) and the tracking URI",
        )
    task = task_of(runs)
    if metric is None:
        metric = metric_of(runs)
        if metric is None:
            raise ConfigError(
                f"cannot tell the headline metric of sweep {sweep_name!r} (its runs have no {T.METRIC} tag)",
                where="report",
                fix="name the metric to tabulate, e.g. --metric valid_bpc",
            )
    info = metric_info(metric, goal)

    placed, skipped = _place(runs, statuses, info.key)
    grouped: dict[tuple[str, Column], dict[float, list[RunRecord]]] = {}
    for c, run in placed.values():
        grouped.setdefault((c.method, c.column), {}).setdefault(c.lr, []).append(run)
    cells = {key: make_cell(key[0], key[1], by_lr, info) for key, by_lr in grouped.items()}
    methods = tuple(sorted({m for m, _ in cells}))
    # Cells alphabetically, then dense before sparse: the paper's left-to-right order.
    columns = tuple(sorted({c for _, c in cells}, key=lambda c: (c[0], -c[1])))
    by_id = {run.run_id: run for _, run in placed.values()}
    costs = {key: _cost([by_id[i] for i in cell.chosen.run_ids]) for key, cell in cells.items() if cell.chosen}
    curve_map: dict = {}
    if curves:
        for metric_key in (info.key, *(k for k in SIDE_CURVES if k != info.key)):
            for key, cell in cells.items():
                curve = mean_curve(tracker, cell.chosen.run_ids, metric_key) if cell.chosen else None
                if curve is not None:
                    curve_map.setdefault(metric_key, {})[key] = curve
    return Report(experiment, sweep_name, task, info, methods, columns, cells, curve_map, costs, skipped)


def _cost(runs: list[RunRecord]) -> Cost:
    """Mean over runs of each cost metric's last logged value (a run's throughput as it ended)."""
    values = {}
    for key in COST_KEYS:
        logged = [run.metrics[key] for run in runs if key in run.metrics and is_finite(run.metrics[key])]
        values[key] = float(np.mean(logged)) if logged else None
    return Cost(**values)


def _place(runs: list[RunRecord], statuses: tuple[str, ...], metric_key: str):
    """Runs by coordinates; of two runs at the same coordinates (a trial whose other settings
    changed between spec versions) the newer wins."""
    skipped: Counter[str] = Counter()
    placed: dict = {}
    for run in runs:  # oldest first, so a newer run replaces an older one
        if run.status not in statuses and not (run.status == "FAILED" and run.diverged(metric_key)):
            skipped[f"{run.status.lower()} (not {'/'.join(statuses).lower()})"] += 1
            continue
        c = coords(run)
        if c is None:
            skipped["without method/cell/density/lr/seed tags"] += 1
            continue
        key = (c.method, c.column, c.lr, c.seed)
        if key in placed:
            skipped["superseded by a newer run with the same coordinates"] += 1
        placed[key] = (c, run)
    return placed, dict(skipped)


def write(report: Report, out_dir: str | os.PathLike) -> list[Path]:
    """report.md, report.csv and curves_<metric>.png (the headline metric, and training loss and
    gradient cosine where the runs logged them) in `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    md.write_text(report.markdown, encoding="utf-8")
    table = out / "report.csv"
    table.write_text(report.csv, encoding="utf-8")
    keys = [report.metric.key, *(k for k in report.curves if k != report.metric.key)]
    return [md, table, *(curves_png(report, out / f"curves_{key}.png", key) for key in keys)]


def log_to_parent(tracker: Tracker, parent_run_id: str, report: Report) -> list[str]:
    """Upload the written report under `report/` of the sweep's parent run; returns artifact paths."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = write(report, tmp)
        tracker.log_artifact(parent_run_id, tmp, REPORT_DIR)
    # The table is the sweep's description: the run page shows it without opening an artifact.
    tracker.set_tags(parent_run_id, {"snapsweep.report.metric": report.metric.key, T.NOTE: report.markdown})
    return [f"{REPORT_DIR}/{p.name}" for p in paths]
