"""Tasks: where windows come from. Copy task with curriculum; byte-level character LM.

Every task object satisfies `tasks.protocol.Task`: static settings, `info` (tasks/info.py), the
validation windows or None, and pure functions of a per-member task state (a NamedTuple with its
own RNG key), so the trainer can scan and vmap them without knowing which task it runs:

    task.info, task.vocab_in, task.vocab_out, task.batch, task.offline_steps, task.valid
    task.shared_data() -> pytree of device arrays shared by all members (passed as a jit argument)
    task.init(key) -> state
    task.online_window(state, data) -> (state, Window with T = 1)
    task.offline_window(state, data) -> (state, Window with T = offline_steps)
    task.probe_window(state, data, key) -> Window (offline form; the data stream is untouched)
    task.observe(state, loss_bits, steps) -> state   (curriculum; identity for text)
    task.metrics(state) -> dict of scalars

The configs (tasks/config.py, with their own `validate()`), `task_info` and the protocol are pure
Python. Lazy (snapsweep.lazy): importing the package loads no JAX.
"""

from __future__ import annotations

from snapsweep.lazy import exports

_SOURCES = "snapsweep.tasks.sources"
_TEXT = "snapsweep.tasks.text"
_CONFIG = "snapsweep.tasks.config"
_EXPORTS = {
    **{name: _CONFIG for name in ("TASKS", "CopyTaskConfig", "TaskConfig", "TextTaskConfig")},
    "TaskInfo": "snapsweep.tasks.info",
    "task_info": "snapsweep.tasks.info",
    "copy_sequence_steps": "snapsweep.tasks.info",
    "Task": "snapsweep.tasks.protocol",
    "make_task": "snapsweep.tasks.make",
    "CopyState": "snapsweep.tasks.copy",
    "CopyTask": "snapsweep.tasks.copy",
    **{name: _SOURCES for name in ("TextData", "carve", "hub_reachable", "load_local", "load_text")},
    **{name: _TEXT for name in ("TextState", "TextTask", "unigram_entropy_bits", "validation_windows")},
}
__getattr__, __dir__ = exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
