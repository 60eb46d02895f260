"""`run`: train a pack to the end of its schedule, with checkpoints and progress on stderr.

The convenience behind `snapsweep train`: the pack driver (train/driver.py) with local adapters.
Checkpoints go to `<checkpoint_dir>/state.ckpt` every `schedule.checkpoint_every` updates and at
the end, the one before kept as `state.ckpt.prev`; `resume=True` continues from the newest good one
(its meta, e.g. tracking run ids, is kept and written back). No runs are tracked.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Callable, Optional, Sequence

from snapsweep.errors import CheckpointError, StorageError
from snapsweep.train import checkpoint
from snapsweep.train.config import Member, TrainConfig
from snapsweep.train.driver import CHECKPOINT_FILE, WriteMember, WriteState, drive
from snapsweep.train.loop import Trainer
from snapsweep.train.progress import ProgressLine

__all__ = ["CHECKPOINT_FILE", "PREVIOUS_SUFFIX", "Console", "FileCheckpoint", "run"]

PREVIOUS_SUFFIX = ".prev"  # state.ckpt.prev: the checkpoint before the newest
NEXT_PREFIX = ".next-"  # .next-state.ckpt: a checkpoint being written, not yet the newest


class FileCheckpoint:
    """CheckpointPort: `<directory>/state.ckpt`, the newest checkpoint, and `state.ckpt.prev`, the
    one before it, so that a newest file damaged after it was written (a disk error, a truncated
    copy) has a fallback; no directory, no checkpoints.

    A save writes the new file completely beside them first; only then is the newest kept as the
    previous (a hard link, so `state.ckpt` never goes missing) and the new one renamed into place.
    A save that fails (a full disk) therefore changes neither file.
    """

    def __init__(self, directory: Optional[str], resume: bool):
        if resume and not directory:
            raise CheckpointError("resume needs a checkpoint directory", where="--resume",
                                  fix="pass --checkpoint DIR together with --resume")
        self.path = os.path.join(directory, CHECKPOINT_FILE) if directory else None
        self.previous = self.path + PREVIOUS_SUFFIX if self.path else None
        self.resume = resume
        self._newest_good = True  # whether the file at `path` may become the previous one

    def latest(self) -> Optional[str]:
        """The newest checkpoint whose size and checksum are right; the previous one, with one
        warning line, when the newest is damaged. (A missing file fails in Trainer.load with a
        CheckpointError that says so.)"""
        if not self.resume:
            return None
        try:
            checkpoint.verify(self.path)
            return self.path
        except CheckpointError as damaged:
            if not os.path.isfile(self.previous):
                raise
            try:
                step = checkpoint.verify(self.previous).get("meta", {}).get("step")
            except CheckpointError:
                raise CheckpointError(f"{damaged.message}, and so is the previous checkpoint {self.previous}",
                                      where=self.path, fix="start without --resume") from damaged
            print(f"warning: {self.path}: {damaged.message}; continuing from the previous checkpoint "
                  f"{self.previous} (step {step})", file=sys.stderr, flush=True)
            self._newest_good = False
            return self.previous

    def save(self, step: int, meta: dict, write_state: WriteState) -> None:
        if self.path is None:
            return
        fresh = os.path.join(os.path.dirname(self.path), NEXT_PREFIX + CHECKPOINT_FILE)
        try:
            write_state(fresh)  # complete and on disk, or an error with nothing changed
        except StorageError as err:  # named by the file it was to become, not the staging name
            raise StorageError(err.message, where=self.path, fix=err.fix) from err
        with StorageError.on_write(self.path, "write a checkpoint", checkpoint.WRITE_ELSEWHERE):
            if self._newest_good and os.path.isfile(self.path):
                _keep_as(self.path, self.previous)
            os.replace(fresh, self.path)
        self._newest_good = True


def _keep_as(path: str, previous: str) -> None:
    """Make `previous` the file at `path` too, replacing it in one rename."""
    staged = previous + ".link"
    if os.path.lexists(staged):
        os.unlink(staged)
    try:
        os.link(path, staged)
    except OSError:  # a filesystem without hard links: a copy does the same, more slowly
        shutil.copyfile(path, staged)
    os.replace(staged, previous)


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
