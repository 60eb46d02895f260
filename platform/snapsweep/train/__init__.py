"""The training loop: online/offline updates, evaluation, gradient probe, resumable state, packs.

    trainer = Trainer(config, members)      # validates, loads data, builds model/method/optimizer
    state = trainer.init()                  # TrainState, leading member axis
    state = trainer.advance(state, steps, on_metrics=callback)
    trainer.save(path, state, meta); state, meta = trainer.load(path)
    trainer.summary(state)
    drive(trainer, checkpoints=..., metrics=..., runs=...)   # the pack loop behind three ports
    run(config, members, checkpoint_dir=..., resume=..., on_metrics=..., progress=...)

`drive` (train/driver.py) is the one loop every caller uses: `run` (what `snapsweep train` calls)
gives it a local checkpoint file and a progress display, a sweep's Tune trial gives it Tune
checkpoints and MLflow runs. Imports only jax, optax, numpy, the standard library, snapsweep.rtrl,
snapsweep.tasks and snapsweep.errors: no Ray, MLflow or Pydantic. Lazy (snapsweep.lazy):
`train.config` and `train.driver` are pure Python.
"""

from __future__ import annotations

from snapsweep.lazy import exports

_CONFIG = "snapsweep.train.config"
_EXPORTS = {
    **{name: _CONFIG for name in ("CopyTaskConfig", "Member", "MethodId", "OptimConfig", "ScheduleConfig",
                                  "TaskConfig", "TextTaskConfig", "TrainConfig")},
    "Trainer": "snapsweep.train.loop",
    "CHECKPOINT_FILE": "snapsweep.train.driver",
    "drive": "snapsweep.train.driver",
    "run": "snapsweep.train.run",
    "STATUS_DIVERGED": "snapsweep.train.state",
    "STATUS_RUNNING": "snapsweep.train.state",
    "TrainState": "snapsweep.train.state",
}
__getattr__, __dir__ = exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
