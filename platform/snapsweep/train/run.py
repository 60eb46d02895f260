"""`run`: train a pack to the end of its schedule, with checkpoints and progress on stderr.

The convenience behind `snapsweep train`: the pack driver (train/driver.py) with local adapters.
Checkpoints go to `<checkpoint_dir>/state.ckpt` every `schedule.checkpoint_every` updates and at
the end; `resume=True` continues from that file (its meta, e.g. tracking run ids, is kept and
written back). No runs are tracked.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from snapsweep.errors import CheckpointError
from snapsweep.train.config import Member, TrainConfig
from snapsweep.train.driver import CHECKPOINT_FILE, WriteMember, WriteState, drive
from snapsweep.train.loop import Trainer
from snapsweep.train.progress import ProgressLine

__all__ = ["CHECKPOINT_FILE", "Console", "FileCheckpoint", "run"]


class FileCheckpoint:
    """CheckpointPort: one file, `<directory>/state.ckpt`, replaced atomically at every save;
    no directory, no checkpoints."""

    def __init__(self, directory: Optional[str], resume: bool):
        if resume and not directory:
            raise CheckpointError("resume needs a checkpoint directory", where="--resume",
                                  fix="pass --checkpoint DIR together with --resume")
        self.path = os.path.join(directory, CHECKPOINT_FILE) if directory else None
        self.resume = resume

    def latest(self) -> Optional[str]:
        # Resuming from a missing file fails in Trainer.load with a CheckpointError that says so.
        return self.path if self.resume else None

    def save(self, step: int, meta: dict, write_state: WriteState) -> None:
        if self.path is not None:
            write_state(self.path)


class Console:
    """MetricsPort and RunPort of a run nobody tracks: records go to `on_metrics` and to the
    progress display (None: no display)."""

    def __init__(self, progress: Optional[ProgressLine], on_metrics: Optional[Callable[[list], None]] = None):
        self.progress = progress
        self.on_metrics = on_metrics

    def emit(self, records: list) -> None:
        if self.progress is not None:
            self.progress.update(records)
        if self.on_metrics is not None:
            self.on_metrics(records)

    def flush(self) -> None:
        pass  # nothing is queued

    def start(self, resumed: bool) -> None:
        if self.progress is not None:
            self.progress.compiling()
        return None  # no tracked runs: the meta's run ids (the caller's) stay

    def running(self, step: int) -> None:
        if self.progress is not None:
            self.progress.start(step)

    def finish(self, step: int, summary: list[dict], write_member: WriteMember) -> None:
        self._close()

    def fail(self, error: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self.progress is not None:
            self.progress.close()


def run(
    config: TrainConfig,
    members: Sequence[Member],
    *,
    checkpoint_dir: Optional[str] = None,
    resume: bool = False,
    on_metrics: Optional[Callable[[list], None]] = None,
    progress: bool = True,
    meta: Optional[dict] = None,
) -> list:
    """-> trainer.summary(final state): one dict per member."""
    checkpoints = FileCheckpoint(checkpoint_dir, resume)
    trainer = Trainer(config, members)
    console = Console(ProgressLine(config.schedule.steps) if progress else None, on_metrics)
    return drive(trainer, checkpoints=checkpoints, metrics=console, runs=console, meta=meta)
