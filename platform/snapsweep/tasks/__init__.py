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

Lazy (snapsweep.lazy): importing the package loads no JAX.
"""

from __future__ import annotations

from snapsweep.lazy import exports

_SOURCES = "snapsweep.tasks.sources"
_TEXT = "snapsweep.tasks.text"
_EXPORTS = {
    "TASKS": "snapsweep.tasks.make",
    "make_task": "snapsweep.tasks.make",
    "CopyState": "snapsweep.tasks.copy",
    "CopyTask": "snapsweep.tasks.copy",
    **{name: _SOURCES for name in ("TextData", "carve", "hub_reachable", "load_local", "load_text")},
    **{name: _TEXT for name in ("TextState", "TextTask", "unigram_entropy_bits", "validation_windows")},
}
__getattr__, __dir__ = exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
