"""`status`: one line per trial: its state, last step and headline metric.

Read from MLflow (the member runs) and from the sweep's pack checkpoints, never from Ray: a sweep's
state must be readable after the cluster that ran it is gone. MLflow cannot tell a run that is
training from one whose process died; the pack's lease can (sweep/lease.py): a run left RUNNING
whose pack has no live lease is "stale (driver gone)", and the next `run` continues it. On an
object store, where packs are not leased, an open run is "running". The checkpoint step shows how
far a re-run would resume from.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Optional

from snapsweep import settings
from snapsweep.errors import SnapsweepError
from snapsweep.sweep import work
from snapsweep.sweep.lease import live_holder
from snapsweep.sweep.storage import stored_packs

# Order of the summary counts.
STATES = ("finished", "running", "stale", "diverged", "failed", "killed", "not started")
# How the table shows a state, where that is not its name.
SHOWN = {"stale": "stale (driver gone)"}


@dataclass
class TrialStatus:
    trial_id: str
    label: str
    pack_id: str
    state: str
    step: Optional[int]  # last step MLflow holds (finished: the summary's), else None
    checkpoint: Optional[int]  # newest pack checkpoint step, when there is one
    metric: Optional[float]
    run_id: Optional[str]


def status(spec_path_or_spec, *, tracking_uri: Optional[str] = None, storage: Optional[str] = None,
           address: Optional[str] = None) -> str:
    """Per-trial state of a sweep as a text table (`snapsweep status`). `address` (a Ray cluster) is
    checked for its shape only: the state comes from MLflow and the sweep storage, not from Ray."""
    return format_rows(*collect(spec_path_or_spec, tracking_uri=tracking_uri, storage=storage, address=address))


def status_json(spec_path_or_spec, *, tracking_uri: Optional[str] = None, storage: Optional[str] = None,
                address: Optional[str] = None) -> dict:
    """The same, machine-readable (`snapsweep status --json`); keys are stable."""
    spec, key, rows, note = collect(spec_path_or_spec, tracking_uri=tracking_uri, storage=storage, address=address)
    return {"name": spec.name, "metric": key, "note": note,
            "counts": {state: sum(r.state == state for r in rows) for state in STATES},
            "trials": [dataclasses.asdict(r) for r in rows]}


def collect(spec_path_or_spec, *, tracking_uri: Optional[str] = None, storage: Optional[str] = None,
            address: Optional[str] = None):
    """-> (spec, metric key, [TrialStatus], note about the tracking store or "")."""
    from snapsweep.spec.resolve import task_config
    from snapsweep.tasks.info import task_info

    settings.ray_address(address)
    spec, path = work.load_spec(spec_path_or_spec)
    paths = work.sweep_paths(spec, storage)
    tracker, why = work.open_tracker(spec, tracking_uri)
    runs = {}
    if tracker is not None:
        try:
            for record in tracker.member_runs(spec.tracking.experiment or spec.name, spec.name):
                if record.trial_id:
                    runs[record.trial_id] = record  # oldest first: a newer run of a trial wins
        except SnapsweepError as err:
            tracker, why = None, err.one_line()
    workload = work.build(spec, paths, {t for t, r in runs.items() if r.ended}, spec_path=path)
    key = task_info(task_config(spec.task)).metric

    pack_of, checkpoint_of = {}, {}
    for pack in workload.all_packs:
        pack_of.update((t.id, pack.id) for t in pack.trials)
    for pack in workload.packs:  # the packing a run would use now wins over the full one
        pack_of.update((t.id, pack.id) for t in pack.trials)
    for store, index in stored_packs(paths):
        step = store.latest_step()
        for trial_id in index.get("trial_ids") or []:
            if step is not None and step > checkpoint_of.get(trial_id, -1):
                checkpoint_of[trial_id] = step
                pack_of[trial_id] = index.get("pack_id", pack_of.get(trial_id))

    gone = stale_trials(paths, runs, pack_of)
    rows = []
    for trial in workload.trials:
        record = runs.get(trial.id)
        state, step, metric = "not started", None, None
        if record is not None:
            state = "stale" if trial.id in gone else _state(record, key)
            metric = record.final(key)
            if state in ("finished", "diverged"):
                final_steps = record.final("steps")
                step = int(final_steps) if final_steps is not None else None
                diverged_at = record.final("diverged_at_step")
                if state == "diverged" and diverged_at is not None:
                    step = int(diverged_at)
            elif tracker is not None:
                history = tracker.metric_history(record.run_id, "status")
                step = history[-1][0] if history else None
        rows.append(TrialStatus(trial.id, trial.label, pack_of.get(trial.id, "-"), state, step,
                                checkpoint_of.get(trial.id), metric, record.run_id if record else None))
    note = "" if why is None else f"tracking store not read: {why}"
    return spec, key, rows, note


def stale_trials(paths, runs: dict, pack_of: dict) -> set:
    """Trials whose member run is RUNNING but whose pack no live driver holds (trial id -> run
    record in `runs`, -> pack id in `pack_of`). A trial counts as held when any pack directory that
    lists it, or the pack it is planned in, has a live lease. Empty on an object store."""
    from snapsweep.sweep.storage import is_uri

    open_runs = {t for t, r in runs.items() if r.status == "RUNNING"}
    if not open_runs or is_uri(paths.root):
        return set()
    held = {t for t in open_runs if live_holder(paths.pack_dir(pack_of.get(t, "-"))) is not None}
    for store, index in stored_packs(paths):
        listed = open_runs.intersection(index.get("trial_ids") or [])
        if listed - held and live_holder(store.uri) is not None:
            held |= listed
    return open_runs - held


def _state(record, key: str) -> str:
    if record.status == "FINISHED":
        return "finished"
    if record.status == "FAILED":
        return "diverged" if record.diverged(key) else "failed"
    if record.status == "KILLED":
        return "killed"
    return "running"


def format_rows(spec, key: str, rows: list, note: str) -> str:
    counts = {state: sum(r.state == state for r in rows) for state in STATES}
    summary = ", ".join(f"{n} {SHOWN.get(state, state)}" for state, n in counts.items() if n)
    head = ["trial", "label", "pack", "state", "step", "checkpoint", key, "run"]
    table = [[r.trial_id, r.label, r.pack_id, SHOWN.get(r.state, r.state), _text(r.step), _text(r.checkpoint),
              "-" if r.metric is None else f"{r.metric:.4g}", (r.run_id or "-")[:12]] for r in rows]
    widths = [max(len(head[i]), *(len(row[i]) for row in table)) if table else len(head[i]) for i in range(len(head))]

    def line(cells):
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    out = [f"sweep {spec.name}: {len(rows)} trials: {summary or 'none'}", "", line(head),
           line(["-" * w for w in widths])]
    out.extend(line(row) for row in table)
    if note:
        out.extend(["", note])
    return "\n".join(out)


def _text(value: Optional[int]) -> str:
    return "-" if value is None else str(value)
