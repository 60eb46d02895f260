"""What the trainer, the planner and the reports ask of a task, answered without building it.

Pure Python (no JAX, no data loading): `snapsweep plan`, `status` and `report` use it where JAX may
not be installed. The task objects (copy.py, text.py) agree with it; tests check that they do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from snapsweep.tasks.config import CopyTaskConfig, TaskConfig, TextTaskConfig

COPY_VOCAB = 4  # {0, 1, start, blank}
BYTE_VOCAB = 256


def copy_sequence_steps(length: int) -> int:
    """Time steps of one copy sequence of `length` bits: start, the bits, blank, then the echo."""
    return 2 * length + 2


@dataclass(frozen=True)
class TaskInfo:
    kind: str
    vocab: int
    batch: int
    # Time steps of one offline window (the LM crop; the copy task's longest padded sequence).
    offline_steps: int
    # Whether the task has a held-out validation set that is evaluated (valid_bpc).
    evaluates: bool
    # The metric that says how well a member did, whether higher or lower is better, its label.
    metric: str
    higher_is_better: bool
    metric_label: str
    # Per-member summary values the trainer reports besides steps, tokens and the training loss.
    summary_metrics: tuple[str, ...]

    @property
    def trivial_bits(self) -> float:
        """The loss of a uniform predictor, log2(vocab) bits per scored token (copy 2, bytes 8): the
        baseline of the divergence rule (TrainConfig.divergence_factor)."""
        return math.log2(self.vocab)

    def steps_per_update(self, online: bool) -> int:
        """Time steps one update scans: 1 online, the whole window offline."""
        return 1 if online else self.offline_steps

    def scored_tokens_per_update(self, online: bool) -> Optional[int]:
        """Scored tokens one update consumes, or None where it varies (offline copy: one sequence)."""
        if online:
            return self.batch
        return self.batch * self.offline_steps if self.kind != "copy" else None


def task_info(config: TaskConfig) -> TaskInfo:
    if isinstance(config, CopyTaskConfig):
        return TaskInfo(kind="copy", vocab=COPY_VOCAB, batch=config.batch,
                        offline_steps=copy_sequence_steps(config.max_level), evaluates=False,
                        metric="curriculum_level", higher_is_better=True, metric_label="curriculum level",
                        summary_metrics=("curriculum_level",))
    if isinstance(config, TextTaskConfig):
        return TaskInfo(kind="wikitext", vocab=BYTE_VOCAB, batch=config.batch, offline_steps=config.crop,
                        evaluates=True, metric="valid_bpc", higher_is_better=False,
                        metric_label="validation bits per character", summary_metrics=("valid_bpc",))
    raise TypeError(f"not a task config: {type(config).__name__}")
