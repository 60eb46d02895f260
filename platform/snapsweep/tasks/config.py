"""Resolved task settings: plain frozen dataclasses, every field required, pure Python.

Defaults and descriptions live once, in the Pydantic spec models (`snapsweep.spec`). These classes
import only the standard library and `snapsweep.errors`, so the spec layer builds them where JAX is
not installed. Each checks its own fields (`validate()`), so the trainer refuses a bad task setting
without knowing which task it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Optional, Union

from snapsweep.errors import ConfigError, DataError
from snapsweep.tasks.checks import require_choice, require_int, require_real

TASKS = ("copy", "wikitext")
TEXT_SOURCES = ("hub", "local")


def _require_kind(config, kind: str) -> None:
    if config.kind != kind:
        raise ConfigError(f"unknown task {config.kind!r}", where="task.kind", fix=f"use one of {', '.join(TASKS)}")


@dataclass(frozen=True)
class CopyTaskConfig:
    """Copy task with curriculum: the network reads a random bit string and then writes it back
    (tasks/copy.py); the string length grows as the loss falls. Each batch element is its own
    stream of sequences."""

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

    def validate(self) -> None:
        """Raise one ConfigError line for the first bad field."""
        _require_kind(self, "copy")
        require_int(self.batch, "task.batch", 1, "use a batch size such as 16")
        require_int(self.start_level, "task.start_level", 1, "the curriculum starts at level 1")
        require_int(self.max_level, "task.max_level", self.start_level, "max_level must be at least start_level")
        require_int(self.length_spread, "task.length_spread", 0, "use e.g. 4 (lengths max(1, L-4) .. L)")
        require_real(self.ema_decay, "task.ema_decay", "use e.g. 0.999", low=0.0, high=1.0)
        require_real(self.threshold_bits, "task.threshold_bits", "use e.g. 0.15", low=0.0)
        require_real(self.ema_reset, "task.ema_reset", "use a value above threshold_bits, e.g. 0.3",
                     low=self.threshold_bits)


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

    def validate(self) -> None:
        """Raise one ConfigError (or DataError, for a missing local directory) line for the first bad
        field. Checks that need the text itself (crop longer than it, valid_chars too large) happen
        when the task loads it, still before any compute."""
        _require_kind(self, "wikitext")
        require_int(self.batch, "task.batch", 1, "use a batch size such as 16")
        require_choice(self.source, "task.source", TEXT_SOURCES, "data source")
        require_int(self.crop, "task.crop", 1, "use e.g. 128 characters per crop")
        require_int(self.valid_batch, "task.valid_batch", 1, "use e.g. 16 validation streams")
        require_real(self.holdout_fraction, "task.holdout_fraction", "use e.g. 0.1", low=0.0, high=1.0)
        if self.valid_chars is not None:
            require_int(self.valid_chars, "task.valid_chars", 1, "use a number of characters, or null for all of them")
        if self.source == "local":
            fix = "pass --data-dir DIR with wiki.train.raw / wiki.valid.raw or any text files"
            if not self.data_dir:
                raise DataError("source 'local' needs a data directory", where="task.data_dir", fix=fix)
            if not os.path.exists(os.path.expanduser(self.data_dir)):
                raise DataError(f"{self.data_dir} does not exist", where="task.data_dir", fix=fix)


TaskConfig = Union[CopyTaskConfig, TextTaskConfig]
