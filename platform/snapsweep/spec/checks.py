"""Checks that span fields: what a single field's constraint cannot say.

Each check yields a `Problem` whose `loc` is the spec path of the value to change (the same shape as
a Pydantic error location), so the loader can point at the right YAML line. Whether a method fits a
model is asked of the trainer's own gates, in pure Python (no JAX): the registry refuses impossible
method combinations and `rtrl.costs.check_budget` prices a method's traces, so a spec that
validates is one the trainer will accept.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from snapsweep.errors import BudgetError, SnapsweepError, SpecError
from snapsweep.rtrl import costs, registry
from snapsweep.rtrl.config import CELL_SHAPES
from snapsweep.spec.models import SNAP_METHODS, Axes, CopyTask, MethodChoice, SweepSpec, TrialSpec, WikitextTask
from snapsweep.spec import data, resolve
from snapsweep.tasks.info import task_info

Loc = tuple[Any, ...]

# Trials one spec may expand to: the paper's largest sweep has a few hundred.
MAX_TRIALS = 10_000
# One member (parameters, optimiser state, batch state) beyond this can run on no single machine.
MAX_MEMBER_BYTES = 2**40


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str
    fix: str


def format_path(loc: Iterable[Any]) -> str:
    """("axes", "lrs", 2) -> "axes.lrs[2]"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


class SpecProblems(SpecError):
    """Raised from the models' after-validators; the loader turns it into one located SpecError."""

    def __init__(self, problems: list[Problem]):
        first = problems[0]
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{format_path(first.loc)}: {first.message}{more}", fix=first.fix)
        self.problems = problems


def raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise SpecProblems(problems)


def _order_note() -> str:
    return f"n applies to {', '.join(SNAP_METHODS)} only"


# ----------------------------------------------------------------------------------------------
# Sections on their own


def _section_problems(spec: TrialSpec) -> list[Problem]:
    out: list[Problem] = []
    task, model, schedule, method = spec.task, spec.model, spec.schedule, spec.method

    if schedule.steps is not None and schedule.tokens is not None:
        out.append(Problem(("schedule", "tokens"), "give steps or tokens, not both",
                           "delete one of schedule.steps and schedule.tokens"))
    if schedule.steps is None and schedule.tokens is None:
        out.append(Problem(("schedule",), "no training length: give steps or tokens",
                           "add schedule.steps (updates) or schedule.tokens (training tokens)"))

    if isinstance(task, WikitextTask):
        if task.source == "local" and not task.data_dir:
            out.append(Problem(("task", "source"), "source local needs data_dir",
                               "add task.data_dir: DIR (text files, e.g. wiki.train.raw and wiki.valid.raw), "
                               "or use source: hub"))
        elif task.source == "hub" and task.data_dir:
            out.append(Problem(("task", "data_dir"), "data_dir is only read with source local",
                               "remove task.data_dir, or set task.source: local"))
        elif task.source == "local" and not os.path.exists(task.data_dir):
            out.append(Problem(("task", "data_dir"), f"{task.data_dir} does not exist",
                               "point data_dir at a directory of text files; relative paths start at the "
                               "spec file's directory"))
        elif task.source == "local":
            problem = data.local_problem(task)
            if problem is not None:
                out.append(Problem(("task", "data_dir"), *problem))
    if isinstance(task, CopyTask) and task.start_level > task.max_level:
        out.append(Problem(("task", "start_level"), f"start_level {task.start_level} is above max_level {task.max_level}",
                           "lower start_level or raise max_level"))
    if isinstance(task, CopyTask) and task.ema_reset <= task.threshold_bits:
        # A reset at or below the threshold would raise the level again at the very next step.
        out.append(Problem(("task", "ema_reset"), f"must be above threshold_bits ({task.threshold_bits:g}), "
                           f"got {task.ema_reset:g}", "use a value above threshold_bits, e.g. 0.3"))

    if model.input_kind == "embed" and model.embed_dim < 1:
        out.append(Problem(("model", "input_kind"), "input_kind embed needs embed_dim >= 1",
                           "add model.embed_dim, e.g. 64, or use input_kind: onehot"))
    if model.input_kind == "onehot" and model.embed_dim != 0:
        out.append(Problem(("model", "embed_dim"), "embed_dim is only used with input_kind embed",
                           "remove embed_dim, or set input_kind: embed"))

    if "n" in method.model_fields_set and method.name not in SNAP_METHODS and method.n != 1:
        out.append(Problem(("method", "n"), f"{_order_note()} (got n={method.n} with {method.name})",
                           "remove n, or use name: snap"))
    return out


def _sweep_section_problems(sweep: SweepSpec) -> list[Problem]:
    out: list[Problem] = []
    res = sweep.resources
    if res.gpu > 1 and res.gpu != int(res.gpu):
        out.append(Problem(("resources", "gpu"), f"a trial cannot hold {res.gpu:g} GPUs: above 1 they are whole",
                           "use a fraction below 1 (GPU sharing) or a whole number"))
    if res.gpu > 0 and res.tpu > 0:
        out.append(Problem(("resources", "tpu"), "a trial asks for both GPUs and TPUs",
                           "set resources.gpu: 0 or resources.tpu: 0"))

    axes = sweep.axes
    grid = math.prod(len(getattr(axes, axis) or (None,)) for axis in Axes.model_fields)
    if grid > MAX_TRIALS:
        # Checked before any grid point is: a product of long axes is billions of points.
        out.append(Problem(("axes",), f"the grid has {grid:,} points (at most {MAX_TRIALS:,} trials per sweep)",
                           "split the sweep into several specs, or shorten the axes"))
        return out
    for i, choice in enumerate(axes.methods or ()):
        if choice.n is not None and choice.name not in SNAP_METHODS and choice.n != 1:
            out.append(Problem(("axes", "methods", i), f"{_order_note()} (got n={choice.n} with {choice.name})",
                               f"write {choice.name} without an order"))
    for axis in ("cells", "densities", "lrs", "seeds", "hiddens"):
        out += _duplicates(axis, getattr(axes, axis) or ())
    resolved = []
    for choice in axes.methods or ():
        try:
            resolved.append(resolve.method_id(sweep.method, choice))
        except SnapsweepError:
            resolved.append(None)  # refused: reported with its grid points
    out += _duplicates("methods", resolved, show=lambda m: m.name, skip=(None,))
    return out


def _duplicates(axis: str, values, show=repr, skip=()) -> list[Problem]:
    out, seen = [], {}
    for i, value in enumerate(values):
        if value in skip:
            continue
        if value in seen:
            out.append(Problem(("axes", axis, i), f"duplicate value {show(value)} (same as axes.{axis}[{seen[value]}])",
                               "remove the repeated entry: each grid point would run twice"))
        else:
            seen[value] = i
    return out


# ----------------------------------------------------------------------------------------------
# Grid points: a method against the model it would train


def _method_loc(spec: TrialSpec, choice: Optional[MethodChoice], method_loc: Loc) -> Loc:
    """Where a refused combination is fixed: the axis entry, or the `method` field at fault."""
    if choice is not None:
        return method_loc
    if spec.method.mode not in registry.FAMILIES[spec.method.name].modes:
        return ("method", "mode")
    return ("method", "form") if spec.method.form is not None else method_loc


def _combo_problems(spec: TrialSpec, choice: Optional[MethodChoice], method_loc: Loc, *,
                    cell: str, hidden: int, density: float) -> list[Problem]:
    inherited = choice is not None and choice.mode is None
    where_mode = " (the mode comes from method.mode)" if inherited else ""
    try:
        method = resolve.method_id(spec.method, choice)
    except SnapsweepError as err:
        return [Problem(_method_loc(spec, choice, method_loc), f"{err.message}{where_mode}",
                        err.fix or "see `snapsweep schema`")]

    info = task_info(resolve.task_config(spec.task))
    if spec.schedule.tokens is not None and info.scored_tokens_per_update(method.online) is None:
        return [Problem(("schedule", "tokens"),
                        f"{method.name} on the {info.kind} task consumes a varying number of tokens per update "
                        "(a whole sequence, whose length grows with the curriculum): tokens cannot be turned into steps",
                        "give schedule.steps instead")]

    try:
        config = resolve.train_config(spec.task, spec.model, method, spec.optim, spec.schedule,
                                      cell=cell, hidden=hidden, density=density, trace_budget=spec.trace_budget)
        # The trainer's own memory gate, so that whatever it would refuse is refused here, with a line number.
        costs.check_budget(config.method, config.model, config.trace_budget_bytes)
        check_memory(config)
    except SnapsweepError as err:
        loc = _spec_loc(err.where)
        if loc is not None and not (loc[0] == "method" and choice is not None):
            message = err.message.removeprefix(f"{err.where} ")  # the path is printed in front already
            return [Problem(loc, message, err.fix or "see the field's description in `snapsweep schema`")]
        point = f"{cell}, hidden {hidden} (k={_units(spec, hidden, density)}), density {density:g}"
        return [Problem(method_loc, f"{method.name} refused at {point}: {err.message}",
                        err.fix or "choose another method or a smaller model")]
    return []


def memory_need(config) -> tuple[int, int]:
    """(bytes of parameters and optimiser state, bytes of per-step state for the batch) of one member.

    Parameters count four times (weights, gradients, Adam's two moments). The batch holds the
    recurrent state and the traces, and a method that carries no traces (it differentiates
    backward through the window) keeps every step's gates and state for its backward pass."""
    model, method = config.model, config.method
    G, C = CELL_SHAPES[model.cell]
    k, V = model.units, model.vocab_out
    params = costs.cell_param_count(model) + (k + 1) * V + model.vocab_in * model.embed_dim
    info = task_info(config.task)
    per_step = (G + C) * k + V  # gates, state and logits of one time step
    traces = costs.trace_numbers(method, model)
    kept_steps = info.steps_per_update(method.online) if traces == 0 else 1
    size = costs.itemsize(model)
    return 4 * params * size, info.batch * (C * k + traces + kept_steps * per_step) * size


def check_memory(config) -> None:
    """Refuse a member that no machine could hold, naming what it would need."""
    weights, batch = memory_need(config)
    if weights + batch > MAX_MEMBER_BYTES:
        heavier = ("task.batch", "use a smaller batch") if batch > weights else \
            ("method", "use a smaller hidden size or a sparser network")
        raise BudgetError(
            f"needs about {(weights + batch) / 2**30:,.0f} GiB per member at k={config.model.units}, batch "
            f"{task_info(config.task).batch} ({weights / 2**30:,.0f} GiB of parameters and optimiser state, "
            f"{batch / 2**30:,.0f} GiB of states, traces and activations); no device holds more than "
            f"{MAX_MEMBER_BYTES // 2**40} TiB", where=heavier[0], fix=heavier[1])


def _spec_loc(where: Optional[str]) -> Optional[Loc]:
    """The trainer names settings by their spec path ("task.ema_reset"); "method" and "model" alone
    are too vague to point at, so those go to the grid point's method entry instead."""
    parts = tuple((where or "").split("."))
    if len(parts) >= 2 and parts[0] in TrialSpec.model_fields and all(p.isidentifier() for p in parts):
        return parts
    return None


def _units(spec: TrialSpec, hidden: int, density: float) -> int:
    return resolve.model_config(spec.task, spec.model, cell=spec.model.cell, hidden=hidden, density=density).units


def trial_problems(spec: TrialSpec) -> list[Problem]:
    out = _section_problems(spec)
    if out:
        return out
    m = spec.model
    return _combo_problems(spec, None, ("method", "name"), cell=m.cell, hidden=m.hidden, density=m.density)


def data_problems(spec: TrialSpec) -> list[Problem]:
    """Whether the hub dataset can be had here (see spec/data.py); asked at validate/plan/run time."""
    problem = data.hub_problem(spec.task) if isinstance(spec.task, WikitextTask) else None
    return [] if problem is None else [Problem(("task", "source"), *problem)]


def sweep_problems(sweep: SweepSpec) -> list[Problem]:
    out = _section_problems(sweep) + _sweep_section_problems(sweep)
    if out:
        return out
    axes, m = sweep.axes, sweep.model
    methods = [(("axes", "methods", i), c) for i, c in enumerate(axes.methods)] if axes.methods \
        else [(("method", "name"), None)]
    seen: set[tuple[Loc, str]] = set()
    for cell in axes.cells or [m.cell]:
        for hidden in axes.hiddens or [m.hidden]:
            for density in axes.densities or [m.density]:
                for loc, choice in methods:
                    for p in _combo_problems(sweep, choice, loc, cell=cell, hidden=hidden, density=density):
                        if (p.loc, p.message) not in seen:
                            seen.add((p.loc, p.message))
                            out.append(p)
    return out
