"""Refuse bad settings before any data is loaded or anything is compiled.

Each check raises one typed error (ConfigError or DataError) whose one-line form names the setting
and the fix. Checks that need the data (crop longer than the text, valid_chars too large) happen
when the task loads it, still before any compute.
"""

from __future__ import annotations

import math
import os
from typing import Sequence

import jax

from snapsweep import rtrl
from snapsweep.errors import ConfigError, DataError
from snapsweep.tasks import TASKS
from snapsweep.train.config import CopyTaskConfig, Member, TextTaskConfig, TrainConfig


def _int(value, name: str, low: int, fix: str):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}", where=name, fix=fix)


def _real(value, name: str, fix: str, low=None, high=None, open_low=True, open_high=True):
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value < high if open_high else value <= high
    if not ok:
        lo = "" if low is None else ("(" if open_low else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if open_high else "]")
        span = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (low is not None or high is not None) else " finite"
        raise ConfigError(f"{name} must be a number{span}, got {value!r}", where=name, fix=fix)


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
        _int(m.seed, f"members[{i}].seed", 0, "use a seed in 0 .. 2**32 - 1")
        if m.seed >= 2**32:
            raise ConfigError(f"members[{i}].seed must be below 2**32, got {m.seed}", where="members",
                              fix="use a seed in 0 .. 2**32 - 1")
        _real(m.lr, f"members[{i}].lr", "use a positive learning rate such as 1e-3", low=0.0)


def _task(task) -> None:
    kind = getattr(task, "kind", None)
    if kind not in TASKS or not isinstance(task, (CopyTaskConfig, TextTaskConfig)):
        raise ConfigError(f"unknown task {kind!r}", where="task.kind", fix=f"use one of {', '.join(TASKS)}")
    _int(task.batch, "task.batch", 1, "use a batch size such as 16")
    if isinstance(task, CopyTaskConfig):
        _int(task.start_level, "task.start_level", 1, "the curriculum starts at level 1")
        _int(task.max_level, "task.max_level", task.start_level, "max_level must be at least start_level")
        _int(task.length_spread, "task.length_spread", 0, "use e.g. 4 (lengths max(1, L-4) .. L)")
        _real(task.ema_decay, "task.ema_decay", "use e.g. 0.999", low=0.0, high=1.0)
        _real(task.threshold_bits, "task.threshold_bits", "use e.g. 0.15", low=0.0)
        _real(task.ema_reset, "task.ema_reset", "use a value above threshold_bits, e.g. 0.3", low=task.threshold_bits)
        return
    if task.source not in ("hub", "local"):
        raise ConfigError(f"unknown data source {task.source!r}", where="task.source", fix="use 'hub' or 'local'")
    _int(task.crop, "task.crop", 1, "use e.g. 128 characters per crop")
    _int(task.valid_batch, "task.valid_batch", 1, "use e.g. 16 validation streams")
    _real(task.holdout_fraction, "task.holdout_fraction", "use e.g. 0.1", low=0.0, high=1.0)
    if task.valid_chars is not None:
        _int(task.valid_chars, "task.valid_chars", 1, "use a number of characters, or null for all of them")
    if task.source == "local":
        fix = "pass --data-dir DIR with wiki.train.raw / wiki.valid.raw or any text files"
        if not task.data_dir:
            raise DataError("source 'local' needs a data directory", where="task.data_dir", fix=fix)
        if not os.path.exists(os.path.expanduser(task.data_dir)):
            raise DataError(f"{task.data_dir} does not exist", where="task.data_dir", fix=fix)


def _model(config: TrainConfig) -> None:
    model, task = config.model, config.task
    if not isinstance(model, rtrl.ModelConfig):
        raise ConfigError(f"expected an rtrl.ModelConfig, got {type(model).__name__}", where="model",
                          fix="build it with snapsweep.rtrl.ModelConfig(...)")
    vocab = 4 if task.kind == "copy" else 256
    if model.vocab_in != vocab or model.vocab_out != vocab:
        raise ConfigError(f"the {task.kind} task has {vocab} tokens but the model has vocab_in={model.vocab_in}, "
                          f"vocab_out={model.vocab_out}", where="model", fix=f"set vocab_in and vocab_out to {vocab}")
    if model.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ConfigError("dtype float64 needs JAX's 64-bit mode", where="model.dtype",
                          fix="set JAX_ENABLE_X64=1 in the environment, or use float32")


def _method(config: TrainConfig) -> None:
    m = config.method
    if m.name not in rtrl.METHODS:
        raise ConfigError(f"unknown method {m.name!r}", where="method.name", fix=f"use one of {', '.join(rtrl.METHODS)}")
    if m.mode not in rtrl.MODES:
        raise ConfigError(f"unknown mode {m.mode!r}", where="method.mode", fix="use 'offline' or 'online'")
    _int(m.n, "method.n", 1, "use n: 1, 2 or 3 (SnAp order)")


def _optim(config: TrainConfig) -> None:
    o = config.optim
    if o.name not in ("adam", "sgd"):
        raise ConfigError(f"unknown optimizer {o.name!r}", where="optim.name", fix="use 'adam' or 'sgd'")
    _real(o.b1, "optim.b1", "use e.g. 0.9", low=0.0, high=1.0, open_low=False)
    _real(o.b2, "optim.b2", "use e.g. 0.999", low=0.0, high=1.0, open_low=False)
    _real(o.eps, "optim.eps", "use e.g. 1e-8", low=0.0)
    if o.clip_norm is not None:
        _real(o.clip_norm, "optim.clip_norm", "use a positive norm such as 100, or null to disable", low=0.0)


def _schedule(config: TrainConfig) -> None:
    s = config.schedule
    _int(s.steps, "schedule.steps", 0, "use the number of updates to train for")
    _int(s.log_every, "schedule.log_every", 1, "use e.g. 100")
    _int(s.eval_every, "schedule.eval_every", 0, "use 0 (only at the end) or a number of updates")
    _int(s.probe_every, "schedule.probe_every", 0, "use 0 (no probe) or a number of updates")
    _int(s.checkpoint_every, "schedule.checkpoint_every", 0, "use 0 (only at the end) or a number of updates")
