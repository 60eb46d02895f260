"""BPTT: the exact gradient over the window (truncated at the window start), offline only."""

from __future__ import annotations

from snapsweep.rtrl.methods.unroll import backward_method, exact_transition, window_grad
from snapsweep.rtrl.registry import MethodId
from snapsweep.rtrl.types import Method


def bptt_window_grad(model, params, structure, state, window):
    """Exact BPTT over `window` from recurrent `state` (J_0 = 0): -> (loss, grads, final_state).

    The trainer's gradient-fidelity probe: compare any method's offline grads against this.
    """
    loss, grads, final, _ = window_grad(model, exact_transition(model), params, structure, state, window)
    return loss, grads, final


def make(model, method_id: MethodId) -> Method:
    return backward_method(model, exact_transition(model), method_id)
