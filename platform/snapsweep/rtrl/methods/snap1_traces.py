"""SnAp-1, trace form: J_t[i, j] = d_t[i] · J_{t-1}[i, j] + c_t[i] · pre_t[j] (DESIGN.md section 2).

Only the entry of each parameter at its own unit is kept, so the traces have the parameters' shape
per example (times C = 2 for the LSTM, whose traces are 2-vectors updated with the per-unit 2x2
block of D). diag(D_t) comes from JVPs through the diagonal-cut matvec, the immediate term from
VJPs with a cotangent of ones on one channel: in these cells every parameter of row i drives only
unit i within one step, so that VJP is exactly I_t at the kept entries. The mask is structural,
never |I_t| > 0 (the "snap-numeric" method is that variant).

LSTM note: following DESIGN.md section 2, every parameter of unit i keeps the 2-vector (h_i, c_i)
and the full 2x2 block. The strict pattern M_1 = pattern(I_t) would drop (c_i, output-gate
parameters of i), which is zero in I_t; the block form keeps it, so its value (nonzero only through
a kept diagonal of U) carries over. The diagonal-cut form (snap1_cut.py) computes the same thing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.budget import cell_param_count
from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.immediate import channel_basis, coefficients, outer, presynaptic
from snapsweep.rtrl.methods.forward import TraceRule
from snapsweep.rtrl.model import cell_shapes


def make_rule(model) -> TraceRule:
    cell = get_cell(model.cell)
    C = cell.channels

    def zeros(tables, batch_size):
        return jax.tree.map(lambda sd: jnp.zeros((batch_size, C) + sd.shape, sd.dtype), cell_shapes(model))

    def advance_one(p, s, J, x):
        basis = channel_basis(s)
        f_cut = lambda s_: cell.step(p, s_, x, matvec.diagonal_cut)
        _, cols = jax.vmap(lambda t: jax.jvp(f_cut, (s,), (t,)))(basis)
        d = jnp.swapaxes(cols, 0, 1)  # d[co, ci, i] = ∂s'[co, i] / ∂s[ci, i]
        new, coef = coefficients(cell, p, s, x)
        imm = outer(coef, *presynaptic(x, s[0], model.input_width))  # leaves [C, G, k, ...]

        def update(J_leaf, imm_leaf):
            # J_new[co] = Σ_ci d[co, ci] ⊙ J[ci] + imm[co], one broadcast expression so XLA fuses it
            # into a single pass over the traces.
            d_b = d.reshape(d.shape[:2] + (1, d.shape[2]) + (1,) * (J_leaf.ndim - 3))
            return jnp.sum(d_b * J_leaf[None], axis=1) + imm_leaf

        return new, jax.tree.map(update, J, imm)

    def advance(p, hoisted, state, traces, x, key):
        return jax.vmap(advance_one, in_axes=(None, 0, 0, 0))(p, state, traces, x)

    def contract(delta, traces, hoisted):
        # grad[g, i, ...] = Σ_b Σ_c δ[b, c, i] J[b, c, g, i, ...]; einsum (a dot_general) is several
        # times faster than a broadcast-multiply-and-sum over the leading axes on XLA:CPU.
        return jax.tree.map(lambda J_leaf: jnp.einsum("bci,bcgi...->gi...", delta, J_leaf), traces)

    return TraceRule(
        name="snap1-traces",
        tables=lambda structure: (),
        zeros=zeros,
        prepare=lambda p, tables: (),
        advance=advance,
        contract=contract,
        numbers=lambda m: get_cell(m.cell).channels * cell_param_count(m),
    )
