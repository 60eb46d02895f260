"""Refuse bad settings before any data is loaded or anything is compiled.

Each check raises one typed error (ConfigError, BudgetError or DataError) whose one-line form names
the setting and the fix. The task's own fields are checked by its config (`task.validate()`, in
tasks/config.py), so this module does not know which task it runs. Checks that need the data
(crop longer than the text, valid_chars too large) happen when the task loads it, still before any
compute.
"""

from __future__ import annotations

import typing
from typing import Sequence

import jax

from snapsweep import rtrl
from snapsweep.errors import ConfigError
from snapsweep.rtrl.costs import check_budget
from snapsweep.rtrl.registry import EXAMPLES, MethodId, make_id
from snapsweep.tasks import TASKS, task_info
from snapsweep.tasks.checks import require_choice, require_int, require_real
from snapsweep.train.config import Member, TaskConfig, TrainConfig

OPTIMIZERS = ("adam", "sgd")


def validate(config: TrainConfig, members: Sequence[Member]) -> None:
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"expected a TrainConfig, got {type(config).__name__}", where="config",
                          fix="build the settings with snapsweep.spec (or TrainConfig(...))")
    _members(members)
    _task(config.task)
    _model(config)
    _method(config)
    _optim(config)
    _schedule(config)


def _members(members) -> None:
    if not members:
        raise ConfigError("a pack needs at least one member", where="members", fix="give one (seed, lr) per trial")
    for i, m in enumerate(members):
        if not isinstance(m, Member):
            raise ConfigError(f"member {i} is a {type(m).__name__}, not a Member", where="members",
                              fix="use snapsweep.train.config.Member(seed=..., lr=...)")
        require_int(m.seed, f"members[{i}].seed", 0, "use a seed in 0 .. 2**32 - 1")
        if m.seed >= 2**32:
            raise ConfigError(f"members[{i}].seed must be below 2**32, got {m.seed}", where="members",
                              fix="use a seed in 0 .. 2**32 - 1")
        require_real(m.lr, f"members[{i}].lr", "use a positive learning rate such as 1e-3", low=0.0)


def _task(task) -> None:
    if not isinstance(task, typing.get_args(TaskConfig)):
        raise ConfigError(f"expected a task config, got {type(task).__name__}", where="task",
                          fix=f"use snapsweep.tasks.config's config of one of {', '.join(TASKS)}")
    task.validate()


def _model(config: TrainConfig) -> None:
    model, task = config.model, config.task
    if not isinstance(model, rtrl.ModelConfig):
        raise ConfigError(f"expected an rtrl.ModelConfig, got {type(model).__name__}", where="model",
                          fix="build it with snapsweep.rtrl.ModelConfig(...)")
    info = task_info(task)
    vocab = info.vocab
    if model.vocab_in != vocab or model.vocab_out != vocab:
        raise ConfigError(f"the {info.kind} task has {vocab} tokens but the model has vocab_in={model.vocab_in}, "
                          f"vocab_out={model.vocab_out}", where="model", fix=f"set vocab_in and vocab_out to {vocab}")
    if model.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ConfigError("dtype float64 needs JAX's 64-bit mode", where="model.dtype",
                          fix="set JAX_ENABLE_X64=1 in the environment, or use float32")


def _method(config: TrainConfig) -> None:
    m = config.method
    if not isinstance(m, MethodId):
        raise ConfigError(f"expected a MethodId, got {m!r}", where="method",
                          fix=f"parse the name with snapsweep.rtrl.registry.parse, e.g. {EXAMPLES[0]}")
    # A MethodId built field by field (not through the registry) is checked here the registry's way.
    make_id(m.family, m.n, m.mode, m.form)
    require_int(config.trace_budget_bytes, "trace_budget_bytes", 1, "use a number of bytes per example, e.g. 2**30")
    check_budget(m, config.model, config.trace_budget_bytes)


def _optim(config: TrainConfig) -> None:
    o = config.optim
    require_choice(o.name, "optim.name", OPTIMIZERS, "optimizer")
    require_real(o.b1, "optim.b1", "use e.g. 0.9", low=0.0, high=1.0, open_low=False)
    require_real(o.b2, "optim.b2", "use e.g. 0.999", low=0.0, high=1.0, open_low=False)
    require_real(o.eps, "optim.eps", "use e.g. 1e-8", low=0.0)
    if o.clip_norm is not None:
        require_real(o.clip_norm, "optim.clip_norm", "use a positive norm such as 100, or null to disable", low=0.0)


def _schedule(config: TrainConfig) -> None:
    s = config.schedule
    require_int(s.steps, "schedule.steps", 0, "use the number of updates to train for")
    require_int(s.log_every, "schedule.log_every", 1, "use e.g. 100")
    require_int(s.eval_every, "schedule.eval_every", 0, "use 0 (only at the end) or a number of updates")
    require_int(s.probe_every, "schedule.probe_every", 0, "use 0 (no probe) or a number of updates")
    require_int(s.checkpoint_every, "schedule.checkpoint_every", 0, "use 0 (only at the end) or a number of updates")
    if config.divergence_factor is not None:
        require_real(config.divergence_factor, "divergence_factor",
                     "use a factor above 1 (e.g. 10), or None to switch the loss rule off", low=1.0)
