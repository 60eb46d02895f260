"""Resolved trainer settings: plain frozen dataclasses, every field required but one (the
divergence rule, off unless asked for).

Defaults and descriptions live once, in the Pydantic spec models (`snapsweep.spec`); the trainer
receives fully resolved values and never invents one. These classes import nothing but the
standard library and the pure-Python parts of `snapsweep.rtrl` and `snapsweep.tasks`, so the spec
layer builds them where JAX is not installed and the trainer runs where Pydantic is not (the GPU
benchmark machines).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Optional

from snapsweep.rtrl.config import ModelConfig
from snapsweep.rtrl.registry import MethodId
from snapsweep.tasks.config import CopyTaskConfig, TaskConfig, TextTaskConfig

# The task configs live in tasks/ (tasks sit below train); re-exported here for the trainer's callers.
__all__ = ["CopyTaskConfig", "Member", "MethodId", "OptimConfig", "ScheduleConfig", "TaskConfig",
           "TextTaskConfig", "TrainConfig"]


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "sgd"]
    b1: float
    b2: float
    eps: float
    # Global gradient-norm clipping threshold; None disables clipping.
    clip_norm: Optional[float]


@dataclass(frozen=True)
class ScheduleConfig:
    """How long to train and how often to evaluate, log, probe and checkpoint (all in updates)."""

    steps: int
    log_every: int
    eval_every: int  # 0: evaluate only at the end
    probe_every: int  # 0: no gradient-fidelity probe
    checkpoint_every: int  # 0: checkpoint only at the end


@dataclass(frozen=True)
class TrainConfig:
    """Everything shared by the members of a pack: members differ only in seed and learning rate."""

    task: TaskConfig
    model: ModelConfig
    method: MethodId  # family, SnAp order n, update mode, form (snapsweep.rtrl.registry)
    optim: OptimConfig
    schedule: ScheduleConfig
    # Per-example bytes of method state above which the method is refused (rtrl.costs.check_budget);
    # the spec's default is rtrl.costs.TRACE_BUDGET_BYTES.
    trace_budget_bytes: int
    # A member whose mean training loss over one log interval exceeds this many times the task's
    # trivial loss (tasks.info.TaskInfo.trivial_bits) is marked diverged and frozen; None: only
    # non-finite values count. The spec's default is 10; callers that build configs by hand
    # (benchmarks, scoring) leave the rule off.
    divergence_factor: Optional[float] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Member:
    """One trial inside a pack."""

    seed: int
    lr: float
