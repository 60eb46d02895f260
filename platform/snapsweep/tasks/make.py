"""`make_task`: a resolved task config -> the task object the trainer drives."""

from __future__ import annotations

from snapsweep.errors import ConfigError
from snapsweep.tasks.copy import CopyTask
from snapsweep.tasks.sources import TextData, load_text
from snapsweep.tasks.text import TextTask

TASKS = ("copy", "wikitext")


def make_task(config, data: TextData | None = None):
    """The task for a resolved `TrainConfig.task`; text tasks load their bytes unless `data` is given."""
    kind = getattr(config, "kind", None)
    if kind == "copy":
        return CopyTask(config)
    if kind == "wikitext":
        return TextTask(config, data if data is not None else load_text(config))
    raise ConfigError(f"unknown task {kind!r}", where="task.kind", fix=f"use one of {', '.join(TASKS)}")
