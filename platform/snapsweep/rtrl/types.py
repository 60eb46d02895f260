"""The contract every gradient method exposes, so the trainer never branches on the method.

Shaped like optax's transforms: a `Method` is a bundle of pure functions, each typed by a
`Protocol` below, and everything that changes between calls travels in arguments and results.

    tables = method.prepare(structure)                       # static index tables (inside jit)
    carry = method.init(params, structure, tables, B, key)   # Carry(state, traces, key)
    loss, grads, carry, stats = method.step(params, structure, tables, carry, window)
    loss_sum, count, state = method.forward(params, structure, carry.state, window)
    method.cost(B)                                           # rtrl.costs.Cost: numbers, bytes, FLOPs

`tables` depend only on the structure (the masks), never change, and are recomputed inside each
compiled program, so they are neither in the carry nor in a checkpoint. `carry.traces` is the
method's own named state type (`NoTraces` for the backward methods, `Snap1Traces`, `SnapNTraces`,
`RtrlTraces`, `UoroTraces`); its size in bytes is `cost(B).trace_bytes`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from snapsweep.rtrl.costs import Cost
from snapsweep.rtrl.registry import MethodId


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


class NoTraces(NamedTuple):
    """The traces of a method that carries nothing between calls (BPTT, the diagonal-cut SnAp-1)."""


class Carry(NamedTuple):
    """What a method carries between calls: recurrent state [B, C, k], the method's traces, PRNG key."""

    state: Any
    traces: Any
    key: Any


class Stats(NamedTuple):
    """Per-call sums: Σ w·CE over the window (nats) and Σ w (scored tokens)."""

    loss_sum: Any
    count: Any


class Prepare(Protocol):
    def __call__(self, structure: Any) -> Any:
        """-> static tables (a pytree, () when none) derived from the structure alone."""


class Init(Protocol):
    def __call__(self, params: Any, structure: Any, tables: Any, batch_size: int, key: Any) -> Carry:
        """-> zero recurrent state, zero traces, the key."""


class Step(Protocol):
    def __call__(self, params: Any, structure: Any, tables: Any, carry: Carry,
                 window: Window) -> tuple[Any, Any, Carry, Stats]:
        """-> (loss = Σ w·CE / B, grads shaped like params, carry after the window, stats)."""


class Forward(Protocol):
    def __call__(self, params: Any, structure: Any, state: Any, window: Window) -> tuple[Any, Any, Any]:
        """-> (Σ w·CE, Σ w, final state): the loss of the window from `state`; no gradient."""


class CostFn(Protocol):
    def __call__(self, batch: int) -> Cost:
        """-> trace numbers and bytes, bytes moved and FLOPs per step at this batch (rtrl.costs)."""


class Method(NamedTuple):
    """A gradient method; see the module docstring for how the calls fit together."""

    id: MethodId
    prepare: Prepare
    init: Init
    step: Step
    forward: Forward
    cost: CostFn
