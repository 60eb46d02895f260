"""Tasks: where windows come from. Copy task with curriculum; byte-level character LM.

Every task object holds only static settings (and, for text, host bytes) and exposes pure functions
of a per-member task state (a NamedTuple with its own RNG key), so the trainer can scan and vmap
them without knowing which task it runs:

    task.vocab_in, task.vocab_out, task.batch, task.offline_steps (window length offline)
    task.shared_data() -> pytree of device arrays shared by all members (passed as a jit argument)
    task.init(key) -> state
    task.online_window(state, data) -> (state, Window with T = 1)
    task.offline_window(state, data) -> (state, Window with T = offline_steps)
    task.probe_window(state, data, key) -> Window (offline form; the data stream is untouched)
    task.observe(state, loss_bits, steps) -> state   (curriculum; identity for text)
    task.metrics(state) -> dict of scalars
"""

from __future__ import annotations

from snapsweep.errors import ConfigError
from snapsweep.tasks.copy import CopyState, CopyTask
from snapsweep.tasks.sources import TextData, carve, hub_reachable, load_local, load_text
from snapsweep.tasks.text import TextState, TextTask, unigram_entropy_bits, validation_windows

TASKS = ("copy", "wikitext")


def make_task(config, data: TextData | None = None):
    """The task for a resolved `TrainConfig.task`; text tasks load their bytes unless `data` is given."""
    kind = getattr(config, "kind", None)
    if kind == "copy":
        return CopyTask(config)
    if kind == "wikitext":
        return TextTask(config, data if data is not None else load_text(config))
    raise ConfigError(f"unknown task {kind!r}", where="task.kind", fix=f"use one of {', '.join(TASKS)}")


__all__ = [
    "TASKS", "CopyState", "CopyTask", "TextData", "TextState", "TextTask", "carve", "hub_reachable", "load_local",
    "load_text", "make_task", "unigram_entropy_bits", "validation_windows",
]
