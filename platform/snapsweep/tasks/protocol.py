"""`Task`: everything the trainer asks of a task, so it never asks which task it runs.

A task object holds only static settings (and, for text, host bytes) and exposes pure functions of
a per-member task state (a NamedTuple with its own RNG key), so the trainer can scan and vmap them.
What can be answered without building the task (vocabulary, window length, whether it is
evaluated, its summary metrics) is `info`, the same `TaskInfo` the planner and reports read from
the config alone (tasks/info.py).
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, runtime_checkable

from snapsweep.tasks.info import TaskInfo


@runtime_checkable
class Task(Protocol):
    info: TaskInfo
    vocab_in: int
    vocab_out: int
    batch: int
    offline_steps: int  # time steps of one offline window
    # Held-out windows that the trainer scores when `info.evaluates`, as an rtrl.Window whose leaves
    # are numpy arrays [n_windows, T, streams] read in order with the state carried across; None
    # for a task without a validation set.
    valid: Optional[Any]

    def shared_data(self) -> Any:
        """A pytree of arrays shared by every member (a jit argument, never copied per member)."""

    def init(self, key) -> Any:
        """The task state of one member, drawn from its data key."""

    def online_window(self, state, data) -> tuple[Any, Any]:
        """(state, rtrl.Window with T = 1): one step of every stream."""

    def offline_window(self, state, data) -> tuple[Any, Any]:
        """(state, rtrl.Window with T = offline_steps): one whole window."""

    def probe_window(self, state, data, key) -> Any:
        """An offline window drawn from `key`, for the gradient-fidelity probe; the state's own data
        stream is left untouched."""

    def observe(self, state, loss_bits, steps) -> Any:
        """The state after an update whose `steps` scored steps had mean loss `loss_bits`
        (a curriculum moves on; a task without one returns `state`)."""

    def metrics(self, state) -> dict:
        """Scalars worth logging, by name (e.g. curriculum_level); may be empty."""
