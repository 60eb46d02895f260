"""`make_task`: a resolved task config -> the task object the trainer drives (a `tasks.protocol.Task`)."""

from __future__ import annotations

from snapsweep.errors import ConfigError
from snapsweep.tasks.config import TASKS, CopyTaskConfig, TaskConfig, TextTaskConfig
from snapsweep.tasks.copy import CopyTask
from snapsweep.tasks.protocol import Task
from snapsweep.tasks.sources import TextData, load_text
from snapsweep.tasks.text import TextTask


def make_task(config: TaskConfig, data: TextData | None = None) -> Task:
    """The task for a resolved `TrainConfig.task`; text tasks load their bytes unless `data` is given."""
    if isinstance(config, CopyTaskConfig):
        return CopyTask(config)
    if isinstance(config, TextTaskConfig):
        return TextTask(config, data if data is not None else load_text(config))
    raise ConfigError(f"unknown task {getattr(config, 'kind', config)!r}", where="task.kind",
                      fix=f"use one of {', '.join(TASKS)}")
