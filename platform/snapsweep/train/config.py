"""Resolved trainer settings: plain frozen dataclasses, every field required.

Defaults and descriptions live once, in the Pydantic spec models (`snapsweep.spec`); the trainer
receives fully resolved values and never invents one. These classes import nothing but the
standard library and `snapsweep.rtrl`, so the trainer runs where Pydantic is not installed (the
GPU benchmark machines).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Optional, Union

from snapsweep.rtrl import ModelConfig


@dataclass(frozen=True)
class CopyTaskConfig:
    """Copy task with curriculum (DESIGN.md §3). Each batch element is its own stream of sequences."""

    kind: Literal["copy"]
    batch: int
    # Sequence length T is drawn uniformly from {max(1, L - length_spread), ..., L} at level L.
    length_spread: int
    start_level: int
    # The curriculum rises when the EMA of the per-step loss in bits falls below threshold_bits;
    # the EMA is then reset to ema_reset.
    threshold_bits: float
    ema_decay: float
    ema_reset: float
    max_level: int


@dataclass(frozen=True)
class TextTaskConfig:
    """Byte-level character language modelling on raw text (WikiText-103 by default)."""

    kind: Literal["wikitext"]
    # "hub": datasets.load_dataset(hub_path, hub_name); "local": files under data_dir.
    source: Literal["hub", "local"]
    data_dir: Optional[str]
    hub_path: str
    hub_name: str
    crop: int
    batch: int
    # Fraction of the training text held out for validation when data_dir has no validation file.
    holdout_fraction: float
    # Number of validation characters scored (a fixed leading slice); None scores all of it.
    valid_chars: Optional[int]
    valid_batch: int


TaskConfig = Union[CopyTaskConfig, TextTaskConfig]


@dataclass(frozen=True)
class MethodConfig:
    """Which gradient method, its SnAp order n, and the update mode."""

    name: str  # one of snapsweep.rtrl.METHODS
    n: int  # SnAp order; ignored by the other methods
    mode: Literal["offline", "online"]


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
    method: MethodConfig
    optim: OptimConfig
    schedule: ScheduleConfig

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Member:
    """One trial inside a pack."""

    seed: int
    lr: float
