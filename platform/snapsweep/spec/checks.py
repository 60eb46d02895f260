"""Checks that span fields: what a single field's constraint cannot say.

Each check yields a `Problem` whose `loc` is the spec path of the value to change (the same shape as
a Pydantic error location), so the loader can point at the right YAML line. Whether a method fits a
model is asked of `rtrl.make_method` itself, the trainer's own gate (memory budget, method/mode
combinations): a spec that validates is one the trainer will accept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from snapsweep.errors import SnapsweepError, SpecError
from snapsweep.spec.models import SNAP_METHODS, CopyTask, MethodChoice, SweepSpec, TrialSpec, WikitextTask
from snapsweep.spec import resolve
from snapsweep.train.config import Member

Loc = tuple[Any, ...]


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


def method_label(name: str, n: int) -> str:
    """"snap-2", "bptt", ...: how trials and reports name a method."""
    return f"{name}-{n}" if name in SNAP_METHODS else name


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
    if isinstance(task, CopyTask) and task.start_level > task.max_level:
        out.append(Problem(("task", "start_level"), f"start_level {task.start_level} is above max_level {task.max_level}",
                           "lower start_level or raise max_level"))

    if model.input_kind == "embed" and model.embed_dim < 1:
        out.append(Problem(("model", "input_kind"), "input_kind embed needs embed_dim >= 1",
                           "add model.embed_dim, e.g. 64, or use input_kind: onehot"))
    if model.input_kind == "onehot" and model.embed_dim != 0:
        out.append(Problem(("model", "embed_dim"), "embed_dim is only used with input_kind embed",
                           "remove embed_dim, or set input_kind: embed"))

    if "n" in method.model_fields_set and method.name not in SNAP_METHODS and method.n != 1:
        out.append(Problem(("method", "n"), f"n applies to snap only (got n={method.n} with {method.name})",
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
    for i, choice in enumerate(axes.methods or ()):
        if choice.n is not None and choice.name not in SNAP_METHODS and choice.n != 1:
            out.append(Problem(("axes", "methods", i), f"n applies to snap only (got n={choice.n} with {choice.name})",
                               f"write {choice.name} without an order"))
    for axis in ("cells", "densities", "lrs", "seeds", "hiddens"):
        out += _duplicates(axis, getattr(axes, axis) or ())
    if axes.methods:
        resolved = [resolve.method_config(sweep.method, c) for c in axes.methods]
        out += _duplicates("methods", resolved, show=lambda m: f"{method_label(m.name, m.n)} {m.mode}")
    return out


def _duplicates(axis: str, values, show=repr) -> list[Problem]:
    out, seen = [], {}
    for i, value in enumerate(values):
        if value in seen:
            out.append(Problem(("axes", axis, i), f"duplicate value {show(value)} (same as axes.{axis}[{seen[value]}])",
                               "remove the repeated entry: each grid point would run twice"))
        else:
            seen[value] = i
    return out


# ----------------------------------------------------------------------------------------------
# Grid points: a method against the model it would train


def _combo_problems(spec: TrialSpec, choice: Optional[MethodChoice], method_loc: Loc, *,
                    cell: str, hidden: int, density: float) -> list[Problem]:
    out: list[Problem] = []
    method = resolve.method_config(spec.method, choice)
    label = method_label(method.name, method.n)
    inherited = choice is not None and choice.mode is None
    where_mode = " (mode online comes from method.mode)" if inherited else ""

    if method.name == "bptt" and method.mode == "online":
        out.append(Problem(method_loc if choice is not None else ("method", "mode"),
                           f"bptt cannot update online: it needs the whole window{where_mode}",
                           "use bptt-offline (mode: offline), or an online method: snap, rtrl, uoro"))
        return out

    if spec.schedule.tokens is not None and isinstance(spec.task, CopyTask) and method.mode == "offline":
        out.append(Problem(("schedule", "tokens"),
                           f"{label} offline on the copy task consumes one whole sequence per update, whose "
                           "length grows with the curriculum: tokens cannot be turned into steps",
                           "give schedule.steps instead"))

    if out:
        return out

    try:
        config = resolve.train_config(spec.task, spec.model, method, spec.optim, spec.schedule,
                                      cell=cell, hidden=hidden, density=density)
        from snapsweep import rtrl
        from snapsweep.train.validate import validate

        rtrl.make_method(config.model, method.name, n=method.n, mode=method.mode)
        # The trainer's own gate, so that whatever it would refuse is refused here, with a line number.
        validate(config, [Member(seed=spec.seed, lr=spec.optim.lr)])
    except SnapsweepError as err:
        loc = _spec_loc(err.where)
        if loc is not None and not (loc[0] == "method" and choice is not None):
            message = err.message.removeprefix(f"{err.where} ")  # the path is printed in front already
            return [Problem(loc, message, err.fix or "see the field's description in `snapsweep schema`")]
        point = f"{cell}, hidden {hidden} (k={_units(spec, hidden, density)}), density {density:g}"
        fix = err.fix or "choose another method or a smaller model"
        if method.name == "rtrl":  # the approximation that exists for exactly this case
            fix = "use snap with n: 2 or 3 on a sparse network (density < 1), or reduce hidden"
        return [Problem(method_loc, f"{label} {method.mode} refused at {point}: {err.message}", fix)]
    return out


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
