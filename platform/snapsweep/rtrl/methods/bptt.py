"""BPTT: the exact gradient over the window (truncated at the window start), offline only."""

from __future__ import annotations

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.methods.unroll import backward_method, batched, window_grad
from snapsweep.rtrl.types import Method


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
    return backward_method(model, exact_transition(model), "bptt", trace_numbers=lambda m: 0)
