"""`snapsweep train`: command-line options layered over an optional single-trial YAML file.

The file holds the same sections as a sweep spec's fixed part (task, model, method, optim, schedule,
seed) and is validated by the same models, so any sweep spec is also a train config (its sweep-only
sections, axes included, are ignored). Options win over the file; an error names the option
(`--lr`) when the bad value came from one, else the file and line.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from snapsweep.errors import ConfigError
from snapsweep.spec import resolve, yamlpos
from snapsweep.spec.load import base_dir_of, read, validate
from snapsweep.spec.models import SWEEP_ONLY, TrialSpec, method_fields
from snapsweep.train.config import Member, TrainConfig

# option -> where it lands in the spec
OPTION_PATHS: dict[str, tuple[str, ...]] = {
    "task": ("task", "kind"),
    "batch": ("task", "batch"),
    "data_dir": ("task", "data_dir"),
    "crop": ("task", "crop"),
    "cell": ("model", "cell"),
    "hidden": ("model", "hidden"),
    "density": ("model", "density"),
    "method": ("method",),
    "lr": ("optim", "lr"),
    "clip_norm": ("optim", "clip_norm"),
    "steps": ("schedule", "steps"),
    "log_every": ("schedule", "log_every"),
    "eval_every": ("schedule", "eval_every"),
    "probe_every": ("schedule", "probe_every"),
    "checkpoint_every": ("schedule", "checkpoint_every"),
    "seed": ("seed",),
    "trace_budget": ("trace_budget",),
}


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _put(data: dict, origins: yamlpos.Origins, path: tuple[str, ...], value: Any, origin: str) -> None:
    target = data
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    origins.set(path, origin)


def _layer_method(data: dict, origins: yamlpos.Origins, options: dict[str, Any]) -> None:
    """--method (the registry's grammar, e.g. snap2-online) over the file's method.

    A new method starts from its own name: the file's n and form belonged to the file's method, but
    the file's mode stays unless the name gives one."""
    if options.get("method") is None:
        return
    try:
        new = method_fields(str(options["method"]))
    except ConfigError as err:
        raise ConfigError(err.message, where=_flag("method"), fix=err.fix) from None
    old = data.get("method")
    if isinstance(old, str):
        try:
            old = method_fields(old)
        except ConfigError:
            old = None  # replaced by --method: its problem no longer matters
    if "mode" not in new and isinstance(old, dict) and "mode" in old:
        new["mode"] = old["mode"]
    data["method"] = new
    origins.set(("method",), _flag("method"))


def _layer(data: dict, origins: yamlpos.Origins, options: dict[str, Any]) -> None:
    """Write the given options into `data` (in place) and record them in `origins`."""
    if options.get("task") is not None:
        task = data.get("task")
        if not (isinstance(task, dict) and task.get("kind") == options["task"]):
            data["task"] = {}  # another task: the file's task settings do not apply
            origins.set(("task",), _flag("task"))
        _put(data, origins, ("task", "kind"), options["task"], _flag("task"))
    if options.get("data_dir") is not None:
        # Relative to where the command runs, not to the config file; and it means local files.
        path = os.path.abspath(os.path.expanduser(str(options["data_dir"])))
        _put(data, origins, ("task", "data_dir"), path, _flag("data_dir"))
        _put(data, origins, ("task", "source"), "local", _flag("data_dir"))
    _layer_method(data, origins, options)
    if options.get("steps") is not None and isinstance(data.get("schedule"), dict):
        data["schedule"].pop("tokens", None)  # --steps replaces the file's budget, whichever it was
    for option, path in OPTION_PATHS.items():
        value = options.get(option)
        if value is None or option in ("task", "data_dir", "method"):
            continue
        if option == "clip_norm" and (value == 0 or str(value).lower() in ("none", "off", "null")):
            value = None  # the command line's way to switch clipping off
        _put(data, origins, path, value, _flag(option))


def trial_from_options(options: dict[str, Any], config_path: Optional[str] = None) -> tuple[TrainConfig, Member]:
    """Resolve one trial from CLI options (None = not given) over an optional YAML file."""
    unknown = sorted(k for k in options if k not in OPTION_PATHS)
    if unknown:
        raise ConfigError(f"unknown train option(s): {', '.join(unknown)}", where="snapsweep train",
                          fix=f"use {', '.join(sorted(OPTION_PATHS))}")
    if config_path is not None:
        text, filename = read(config_path)
        data, origins = yamlpos.parse(text, filename)
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in SWEEP_ONLY}
        elif data is None:
            data = {}
        base_dir = base_dir_of(filename)
    else:
        filename, data, origins, base_dir = "command line", {}, yamlpos.Origins("command line"), os.getcwd()
    if isinstance(data, dict):
        _layer(data, origins, options)
    if config_path is None:
        # Without a file the generic "task: required" would tell the user to edit YAML they don't have.
        if "task" not in data:
            raise ConfigError("no task given", where="command line", fix="add --task copy or --task wikitext")
        if "schedule" not in data:
            raise ConfigError("no training length given", where="command line", fix="add --steps N")
    spec = validate(TrialSpec, data, origins, filename, base_dir)
    method = resolve.method_id(spec.method)
    m = spec.model
    config = resolve.train_config(spec.task, m, method, spec.optim, spec.schedule,
                                  cell=m.cell, hidden=m.hidden, density=m.density, trace_budget=spec.trace_budget)
    return config, Member(seed=spec.seed, lr=spec.optim.lr)
