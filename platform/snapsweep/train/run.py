"""`run`: train a pack to the end of its schedule, with checkpoints and a progress line.

The convenience behind `snapsweep train`. Checkpoints go to `<checkpoint_dir>/state.ckpt` every
`schedule.checkpoint_every` updates and at the end; `resume=True` continues from that file (its
meta, e.g. tracking run ids, is kept and written back).
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from snapsweep.errors import CheckpointError
from snapsweep.train.config import Member, TrainConfig
from snapsweep.train.loop import Trainer
from snapsweep.train.progress import ProgressLine

CHECKPOINT_FILE = "state.ckpt"


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
    if resume and not checkpoint_dir:
        raise CheckpointError("resume needs a checkpoint directory", where="--resume",
                              fix="pass --checkpoint DIR together with --resume")
    trainer = Trainer(config, members)
    path = os.path.join(checkpoint_dir, CHECKPOINT_FILE) if checkpoint_dir else None
    if resume:
        state, saved_meta = trainer.load(path)
        meta = {**saved_meta, **(meta or {})}
    else:
        state = trainer.init()
        meta = dict(meta or {})

    total = config.schedule.steps
    every = config.schedule.checkpoint_every
    bar = ProgressLine(total) if progress else None

    def report(records):
        if bar is not None:
            bar.update(records)
        if on_metrics is not None:
            on_metrics(records)

    try:
        clock = int(state.clock[0])
        while clock < total:
            stop = min(total, (clock // every + 1) * every) if every > 0 else total
            state = trainer.advance(state, stop - clock, on_metrics=report)
            clock = stop
            if path is not None:
                trainer.save(path, state, meta)
    finally:
        if bar is not None:
            bar.close()
    if path is not None and not os.path.exists(path):
        trainer.save(path, state, meta)  # already finished (e.g. resumed a finished run, or 0 steps)
    return trainer.summary(state)
