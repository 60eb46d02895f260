"""Validated spec sections -> the trainer's resolved, default-free dataclasses (train/config.py).

Pure functions, shared by expansion (one config per grid point), the cross-field checks (which build
the very config a trial would get and ask rtrl whether it fits) and `snapsweep train`. Pure Python:
methods are resolved through the registry, tasks described by `tasks.info`.
"""

from __future__ import annotations

import math
from typing import Optional

from snapsweep.rtrl import registry
from snapsweep.rtrl.config import ModelConfig
from snapsweep.spec.models import CopyTask, Method, MethodChoice, Model, Optim, Schedule, WikitextTask
from snapsweep.tasks.info import task_info
from snapsweep.train.config import (
    CopyTaskConfig,
    MethodId,
    OptimConfig,
    ScheduleConfig,
    TaskConfig,
    TextTaskConfig,
    TrainConfig,
)


def task_config(task: CopyTask | WikitextTask) -> TaskConfig:
    if isinstance(task, CopyTask):
        return CopyTaskConfig(
            kind=task.kind, batch=task.batch, length_spread=task.length_spread, start_level=task.start_level,
            threshold_bits=task.threshold_bits, ema_decay=task.ema_decay, ema_reset=task.ema_reset,
            max_level=task.max_level,
        )
    return TextTaskConfig(
        kind=task.kind, source=task.source, data_dir=task.data_dir, hub_path=task.hub_path, hub_name=task.hub_name,
        crop=task.crop, batch=task.batch, holdout_fraction=task.holdout_fraction, valid_chars=task.valid_chars,
        valid_batch=task.valid_batch,
    )


def model_config(task: CopyTask | WikitextTask, model: Model, *, cell: str, hidden: int, density: float) -> ModelConfig:
    # The vocabulary is the task's, never a user setting: a mismatch could only be a mistake.
    vocab = task_info(task_config(task)).vocab
    return ModelConfig(
        cell=cell, hidden=hidden, vocab_in=vocab, vocab_out=vocab, density=float(density),
        size_rule=model.size_rule, shared_masks=model.shared_masks, mask_inputs=model.mask_inputs,
        input_kind=model.input_kind, embed_dim=model.embed_dim, dtype=model.dtype,
    )


def method_id(section: Method, choice: Optional[MethodChoice] = None) -> MethodId:
    """An axis entry overrides what it names; the rest comes from the `method` section.

    Raises the registry's ConfigError for a combination it refuses (bptt online, a form on a
    method without forms). The section's form is inherited only by a method that has forms."""
    def pick(name: str):
        value = getattr(choice, name) if choice is not None else None
        return value if value is not None else getattr(section, name)

    family = pick("name")
    n = pick("n") if registry.FAMILIES[family].takes_order else 1  # must not split identical trials
    mode = pick("mode")
    form = choice.form if choice is not None and choice.form is not None else None
    if form is None and section.form is not None and registry.MethodId(family, n, mode).has_forms:
        form = section.form
    return registry.make_id(family, n, mode, form)


def optim_config(optim: Optim) -> OptimConfig:
    return OptimConfig(name=optim.name, b1=optim.b1, b2=optim.b2, eps=optim.eps, clip_norm=optim.clip_norm)


def schedule_config(schedule: Schedule, task: TaskConfig, method: MethodId) -> ScheduleConfig:
    steps = schedule.steps
    if steps is None:
        per_update = task_info(task).scored_tokens_per_update(method.online)
        if per_update is None or schedule.tokens is None:  # refused earlier by checks.py
            raise ValueError("schedule.tokens cannot be converted to steps here")
        steps = math.ceil(schedule.tokens / per_update)
    return ScheduleConfig(
        steps=steps, log_every=schedule.log_every, eval_every=schedule.eval_every,
        probe_every=schedule.probe_every, checkpoint_every=schedule.checkpoint_every,
    )


def train_config(
    task: CopyTask | WikitextTask, model: Model, method: MethodId, optim: Optim, schedule: Schedule,
    *, cell: str, hidden: int, density: float, trace_budget: int,
) -> TrainConfig:
    task_cfg = task_config(task)
    return TrainConfig(
        task=task_cfg,
        model=model_config(task, model, cell=cell, hidden=hidden, density=density),
        method=method,
        optim=optim_config(optim),
        schedule=schedule_config(schedule, task_cfg, method),
        trace_budget_bytes=int(trace_budget),
        divergence_factor=schedule.divergence_factor,
    )
