"""BPTT: the exact gradient over the window (truncated at the window start), offline only."""

from __future__ import annotations

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.methods.unroll import batched, window_grad
from snapsweep.rtrl.model import zero_state
from snapsweep.rtrl.types import Carry, Method


def exact_transition(model):
    cell = get_cell(model.cell)
    return batched(lambda p, s, x: cell.step(p, s, x, matvec.dense))


def bptt_window_grad(model, params, structure, state, window):
    """Exact BPTT over `window` from recurrent `state` (J_0 = 0): -> (loss, grads, final_state).

    The trainer's gradient-fidelity probe: compare any method's offline grads against this.
    """
    loss, grads, final, _ = window_grad(model, exact_transition(model), params, structure, state, window)
    return loss, grads, final


def make(model) -> Method:
    transition = exact_transition(model)

    def init(params, structure, batch_size, key):
        return Carry(state=zero_state(model, batch_size), traces=(), key=key)

    def step(params, structure, carry, window):
        loss, grads, final, stats = window_grad(model, transition, params, structure, carry.state, window)
        return loss, grads, Carry(final, carry.traces, carry.key), stats

    return Method(name="bptt", init=init, step=step, trace_numbers=lambda m: 0)
