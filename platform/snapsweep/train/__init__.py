"""The training loop: online/offline updates, evaluation, gradient probe, resumable state, packs.

    trainer = Trainer(config, members)      # validates, loads data, builds model/method/optimizer
    state = trainer.init()                  # TrainState, leading member axis
    state = trainer.advance(state, steps, on_metrics=callback)
    trainer.save(path, state, meta); state, meta = trainer.load(path)
    trainer.summary(state)
    run(config, members, checkpoint_dir=..., resume=..., on_metrics=..., progress=...)
    bench_pack(config, pack_sizes=(1, 4, 12))

Imports only jax, optax, numpy, the standard library, snapsweep.rtrl, snapsweep.tasks and
snapsweep.errors: no Ray, MLflow or Pydantic.
"""

from snapsweep.train.config import (
    CopyTaskConfig,
    Member,
    MethodConfig,
    OptimConfig,
    ScheduleConfig,
    TaskConfig,
    TextTaskConfig,
    TrainConfig,
)
from snapsweep.train.loop import Trainer
from snapsweep.train.pack import bench_pack
from snapsweep.train.run import CHECKPOINT_FILE, run
from snapsweep.train.state import STATUS_DIVERGED, STATUS_RUNNING, TrainState

__all__ = [
    "CHECKPOINT_FILE",
    "STATUS_DIVERGED",
    "STATUS_RUNNING",
    "CopyTaskConfig",
    "Member",
    "MethodConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TaskConfig",
    "TextTaskConfig",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "bench_pack",
    "run",
]
