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
    "method": ("method", "name"),
    "n": ("method", "n"),
    "mode": ("method", "mode"),
    "lr": ("optim", "lr"),
    "clip_norm": ("optim", "clip_norm"),
    "steps": ("schedule", "steps"),
    "log_every": ("schedule", "log_every"),
    "eval_every": ("schedule", "eval_every"),
    "probe_every": ("schedule", "probe_every"),
    "checkpoint_every": ("schedule", "checkpoint_every"),
    "seed": ("seed",),
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
    """--method/--n/--mode over the file's method (a mapping or a label such as "snap2-online")."""
    method = data.get("method")
    if isinstance(method, str):
        method = method_fields(method) or method  # an unparseable label is left for validation to report
    if options.get("method") is not None:
        # A new method starts from its own label: the file's n belonged to the file's method, but the
        # file's mode stays unless the label names one.
        new = method_fields(str(options["method"])) or options["method"]
        if isinstance(new, dict) and "mode" not in new and isinstance(method, dict) and "mode" in method:
            new["mode"] = method["mode"]
        method = new
        origins.set(("method",), _flag("method"))
    if method is not None:
        data["method"] = method
    for option in ("n", "mode"):
        if options.get(option) is not None and (method is None or isinstance(method, dict)):
            _put(data, origins, ("method", option), options[option], _flag(option))


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
        if value is None or option in ("task", "data_dir", "method", "n", "mode"):
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
    method = resolve.method_config(spec.method)
    m = spec.model
    config = resolve.train_config(spec.task, m, method, spec.optim, spec.schedule,
                                  cell=m.cell, hidden=m.hidden, density=m.density)
    return config, Member(seed=spec.seed, lr=spec.optim.lr)
