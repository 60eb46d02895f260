"""Resolved task settings: plain frozen dataclasses, every field required, pure Python.

Defaults and descriptions live once, in the Pydantic spec models (`snapsweep.spec`). These classes
import only the standard library, so the spec layer builds them where JAX is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Union


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
