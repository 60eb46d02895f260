"""The contract every gradient method exposes, so the trainer never branches on the method."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Window(NamedTuple):
    """T steps of B independent streams.

    x: [T, B] int32 input tokens (also for input_kind "embed": the model looks the embedding up).
    y: [T, B] int32 targets. weight: [T, B] float loss weights (0 = not scored).
    reset: [T, B] bool; True means: before step t, element b's state and traces go back to zero.
    """

    x: Any
    y: Any
    weight: Any
    reset: Any


class Carry(NamedTuple):
    """What a method carries between calls: recurrent state [B, C, k], method traces, PRNG key."""

    state: Any
    traces: Any
    key: Any


class Method(NamedTuple):
    """A gradient method.

    init(params, structure, batch_size, key) -> Carry
    step(params, structure, carry, window) -> (loss, grads, carry, stats)
    trace_numbers(model) -> int: numbers of method state per example.
    """

    name: str
    init: Callable
    step: Callable
    trace_numbers: Callable
