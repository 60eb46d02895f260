"""The tag vocabulary that links MLflow runs to sweeps and trials.

Runs are found again by tags, never by name or creation order: the parent of a sweep by
(`KIND`=sweep, `SWEEP`), a member run by (`mlflow.parentRunId`, `TRIAL_ID`). Reports read the
axis tags (method, cell, density, lr, seed) so they do not have to parse parameters.
"""

from __future__ import annotations

from typing import Any, Mapping

PARENT = "mlflow.parentRunId"  # MLflow's own key: the UI nests child runs under it
RUN_NAME = "mlflow.runName"

KIND = "snapsweep.kind"  # "sweep" (parent) or "member" (child)
SWEEP = "snapsweep.sweep"  # the sweep name; keys the parent, so added seeds keep one parent
SPEC_HASH = "snapsweep.spec_hash"  # latest spec hash on the parent; the trial's spec on a child
TRIAL_ID = "snapsweep.trial_id"  # hash of the resolved settings of one member
PACK_ID = "snapsweep.pack_id"
TASK = "snapsweep.task"  # the task's kind (tasks.info.TaskInfo.kind)
METRIC = "snapsweep.metric"  # the task's headline metric (TaskInfo.metric): what reports tabulate
METHOD = "snapsweep.method"  # the registry's canonical method name, e.g. "snap2-online"
MODE = "snapsweep.mode"
CELL = "snapsweep.cell"
DENSITY = "snapsweep.density"
HIDDEN = "snapsweep.hidden"
UNITS = "snapsweep.units"  # the actual k after the density size rule
LR = "snapsweep.lr"
SEED = "snapsweep.seed"
FINAL_PREFIX = "snapsweep.final."  # non-numeric summary entries written by `finish`
LAST_PREFIX = "snapsweep.last."  # non-numeric trainer metrics (e.g. status) as they change

KIND_SWEEP = "sweep"
KIND_MEMBER = "member"

# Metric keys written by `finish` for the numeric summary entries: "final.<key>".
FINAL_METRIC_PREFIX = "final."

# Trial.axes names and the tag each one becomes.
AXIS_TAGS = {
    "method": METHOD,
    "mode": MODE,
    "cell": CELL,
    "density": DENSITY,
    "hidden": HIDDEN,
    "units": UNITS,
    "lr": LR,
    "seed": SEED,
}


def trial_tags(trial: Any, spec_hash: str) -> dict[str, str]:
    """Tags of one member run from a `snapsweep.spec.Trial` (duck-typed: id, pack_key, axes, config).

    Pass the result (merged with anything else) as `tags` to `Tracker.member_run`.
    """
    tags = {TRIAL_ID: str(trial.id), SPEC_HASH: spec_hash}
    pack = getattr(trial, "pack_key", None)
    if pack is not None:
        tags[PACK_ID] = str(pack)
    axes: Mapping[str, Any] = getattr(trial, "axes", None) or {}
    for name, tag in AXIS_TAGS.items():
        if axes.get(name) is not None:
            tags[tag] = str(axes[name])
    config = getattr(trial, "config", None)
    if config is not None:
        from snapsweep.tasks.info import task_info

        info = task_info(config.task)
        tags[TASK] = info.kind
        tags[METRIC] = info.metric
    label = getattr(trial, "label", None)
    if label:
        tags[RUN_NAME] = str(label)
    return tags
