"""Offline SnAp-1 as BPTT through a diagonal-cut graph: SnAp-1's gradient at BPTT's cost, no traces.

h_t = f(θ, sg(h_{t-1}), x_t) + sg(d_t) ⊙ (h_{t-1} − sg(h_{t-1})): the state Jacobian of this graph is
diag(D_t) (the 2x2 per-unit blocks for the LSTM), its parameter Jacobian is I_t, so its BPTT gradient
over a window is Σ_t δ_t J_t of SnAp-1 with J_0 = 0, at BPTT's cost. d_t comes from JVPs through the
diagonal-cut matvec (one per state channel).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.methods.unroll import backward_method, batched
from snapsweep.rtrl.registry import MethodId
from snapsweep.rtrl.types import Method

sg = jax.lax.stop_gradient


def cut_transition(model):
    cell = get_cell(model.cell)
    C = cell.channels

    def step_one(p, s, x):
        s_sg = sg(s)
        f = lambda s_: cell.step(p, s_, x, matvec.diagonal_cut)
        out = None
        for ci in range(C):
            tangent = jnp.zeros_like(s).at[ci].set(1)
            new, col = jax.jvp(f, (s_sg,), (tangent,))  # col[co, i] = dh'_{co,i}/dh_{ci,i}
            out = new if out is None else out
            out = out + sg(col) * (s[ci] - s_sg[ci])[None]
        return out

    return batched(step_one)


def make(model, method_id: MethodId) -> Method:
    return backward_method(model, cut_transition(model), method_id)
