"""The tag vocabulary that links MLflow runs to sweeps and trials.

Runs are found again by tags, never by name or creation order: the parent of a sweep by
(`KIND`=sweep, `SWEEP`), a member run by (`mlflow.parentRunId`, `TRIAL_ID`). Reports read the
axis tags (method, cell, density, lr, seed) so they do not have to parse parameters.
"""

from __future__ import annotations

from typing import Any, Mapping

PARENT = "mlflow.parentRunId"  # MLflow's own key: the UI nests child runs under it
RUN_NAME = "mlflow.runName"
# MLflow's standard fields, shown in the run page's overview (source, commit, user, description).
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
SOURCE_GIT_COMMIT = "mlflow.source.git.commit"
USER = "mlflow.user"
NOTE = "mlflow.note.content"  # the run's description (Markdown); the parent's is the report table
# MLflow 3 opens an experiment in the GenAI view unless this experiment tag says otherwise.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

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
NODE = "snapsweep.node"  # the Ray node id the member's pack last trained on
FINAL_PREFIX = "snapsweep.final."  # the run summary written by `finish`: one tag per entry
LAST_PREFIX = "snapsweep.last."  # non-numeric trainer metrics (e.g. status) as they change

KIND_SWEEP = "sweep"
KIND_MEMBER = "member"

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
    name = run_name(axes) or getattr(trial, "label", None)
    if name:
        tags[RUN_NAME] = str(name)
    tags[NOTE] = note(axes, str(trial.id))
    return tags


def run_name(axes: Mapping[str, Any]) -> str:
    """What tells members apart first, what they share after: "snap2-online lr=3e-3 s0 gru-h32 d=0.25".

    The run table cuts long names at the right; method, learning rate and seed stay visible."""
    if not all(axes.get(k) is not None for k in ("method", "lr", "seed")):
        return ""
    head = f"{axes['method']} lr={short_number(float(axes['lr']))} s{axes['seed']}"
    tail = [f"{axes['cell']}-h{axes['hidden']}" if axes.get("cell") and axes.get("hidden") else axes.get("cell")]
    if axes.get("density") is not None:
        tail.append(f"d={float(axes['density']):g}")
    return " ".join([head, *(t for t in tail if t)])


def short_number(x: float) -> str:
    """3e-3, 3.16e-3, 0.5, 1: a learning rate as short as it is exact to three digits."""
    if x == 0 or 0.1 <= abs(x) < 1000:
        return f"{x:.3g}"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def note(axes: Mapping[str, Any], trial_id: str) -> str:
    """A member run's description: its coordinates in words (the UI shows it on the run page)."""
    parts = [f"{k} {axes[k]}" for k in ("method", "cell", "hidden", "units", "density", "lr", "seed")
             if axes.get(k) is not None]
    return f"snapsweep member: {', '.join(parts)}; trial {trial_id}." if parts else f"snapsweep member, trial {trial_id}."


def summary_tags(tags: dict) -> dict:
    """The run summary `finish` wrote: the run's `FINAL_PREFIX` tags, keys as stored."""
    return {key: value for key, value in tags.items() if key.startswith(FINAL_PREFIX)}
