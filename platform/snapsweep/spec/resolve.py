"""Validated spec sections -> the trainer's resolved, default-free dataclasses (train/config.py).

Pure functions, shared by expansion (one config per grid point), the cross-field checks (which build
the very config a trial would get and ask rtrl whether it fits) and `snapsweep train`.
"""

from __future__ import annotations

import math
from typing import Optional

from snapsweep.rtrl import ModelConfig
from snapsweep.spec.models import SNAP_METHODS, CopyTask, Method, MethodChoice, Model, Optim, Schedule, WikitextTask
from snapsweep.train.config import (
    CopyTaskConfig,
    MethodConfig,
    OptimConfig,
    ScheduleConfig,
    TaskConfig,
    TextTaskConfig,
    TrainConfig,
)


def task_config(task: CopyTask | WikitextTask) -> TaskConfig:
    if isinstance(task, CopyTask):
        return CopyTaskConfig(
            kind="copy", batch=task.batch, length_spread=task.length_spread, start_level=task.start_level,
            threshold_bits=task.threshold_bits, ema_decay=task.ema_decay, ema_reset=task.ema_reset,
            max_level=task.max_level,
        )
    return TextTaskConfig(
        kind="wikitext", source=task.source, data_dir=task.data_dir, hub_path=task.hub_path, hub_name=task.hub_name,
        crop=task.crop, batch=task.batch, holdout_fraction=task.holdout_fraction, valid_chars=task.valid_chars,
        valid_batch=task.valid_batch,
    )


def model_config(task: CopyTask | WikitextTask, model: Model, *, cell: str, hidden: int, density: float) -> ModelConfig:
    # The vocabulary is the task's, never a user setting: a mismatch could only be a mistake.
    return ModelConfig(
        cell=cell, hidden=hidden, vocab_in=task.vocab, vocab_out=task.vocab, density=float(density),
        size_rule=model.size_rule, shared_masks=model.shared_masks, mask_inputs=model.mask_inputs,
        input_kind=model.input_kind, embed_dim=model.embed_dim, dtype=model.dtype,
    )


def method_config(section: Method, choice: Optional[MethodChoice] = None) -> MethodConfig:
    """An axis entry overrides what it names; the rest comes from the `method` section."""
    name = choice.name if choice is not None else section.name
    n = choice.n if choice is not None and choice.n is not None else section.n
    mode = choice.mode if choice is not None and choice.mode is not None else section.mode
    if name not in SNAP_METHODS:
        n = 1  # meaningless for the method: must not split otherwise identical trials
    return MethodConfig(name=name, n=n, mode=mode)


def optim_config(optim: Optim) -> OptimConfig:
    return OptimConfig(name=optim.name, b1=optim.b1, b2=optim.b2, eps=optim.eps, clip_norm=optim.clip_norm)


def tokens_per_update(task: TaskConfig, method: MethodConfig) -> Optional[int]:
    """Tokens one update consumes, or None where it varies (offline copy: one whole sequence)."""
    if method.mode == "online":
        return task.batch
    if isinstance(task, TextTaskConfig):
        return task.batch * task.crop
    return None


def schedule_config(schedule: Schedule, task: TaskConfig, method: MethodConfig) -> ScheduleConfig:
    steps = schedule.steps
    if steps is None:
        per_update = tokens_per_update(task, method)
        if per_update is None or schedule.tokens is None:  # refused earlier by checks.py
            raise ValueError("schedule.tokens cannot be converted to steps here")
        steps = math.ceil(schedule.tokens / per_update)
    return ScheduleConfig(
        steps=steps, log_every=schedule.log_every, eval_every=schedule.eval_every,
        probe_every=schedule.probe_every, checkpoint_every=schedule.checkpoint_every,
    )


def train_config(
    task: CopyTask | WikitextTask, model: Model, method: MethodConfig, optim: Optim, schedule: Schedule,
    *, cell: str, hidden: int, density: float,
) -> TrainConfig:
    task_cfg = task_config(task)
    return TrainConfig(
        task=task_cfg,
        model=model_config(task, model, cell=cell, hidden=hidden, density=density),
        method=method,
        optim=optim_config(optim),
        schedule=schedule_config(schedule, task_cfg, method),
    )
