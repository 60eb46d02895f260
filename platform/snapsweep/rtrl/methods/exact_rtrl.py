"""Exact RTRL: dense per-example influence J_t = I_t + D_t J_{t-1} (k·C x p). The test oracle.

I_t by reverse mode (C·k VJPs) and D_t by forward mode (C·k JVPs), per example: only for small k,
which the memory budget enforces. `numeric_mask=True` gives the paper's Appendix-D variant ("snap-numeric").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from snapsweep.rtrl.budget import cell_param_count
from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.methods.forward import TraceRule
from snapsweep.rtrl.model import cell_shapes


def make_rule(model, numeric_mask: bool = False) -> TraceRule:
    cell = get_cell(model.cell)
    C, k = cell.channels, model.units
    S, p = C * k, cell_param_count(model)
    dtype = jnp.dtype(model.dtype)

    def zeros(tables, batch_size):
        return jnp.zeros((batch_size, S, p), dtype)

    def advance(params, hoisted, state, J, x, key):
        theta, unravel = ravel_pytree(params)

        def one(s, J_b, x_b):
            f = lambda th, s_flat: cell.step(unravel(th), s_flat.reshape(C, k), x_b, matvec.dense).reshape(S)
            s_flat = s.reshape(S)
            I = jax.jacrev(f, argnums=0)(theta, s_flat)
            D = jax.jacfwd(f, argnums=1)(theta, s_flat)
            J_new = I + D @ J_b
            if numeric_mask:
                # Appendix D of the paper: keep only entries where |I_t| > 0 *at this step*.
                J_new = jnp.where(I != 0, J_new, jnp.zeros((), J_new.dtype))
            return f(theta, s_flat).reshape(C, k), J_new

        return jax.vmap(one)(state, J, x)

    def contract(delta, J, hoisted):
        _, unravel = ravel_pytree(jax.tree.map(lambda sd: jnp.zeros(sd.shape, sd.dtype), cell_shapes(model)))
        return unravel(jnp.einsum("bs,bsp->p", delta.reshape(delta.shape[0], S), J))

    return TraceRule(
        name="snap-numeric" if numeric_mask else "rtrl",
        tables=lambda structure: (),
        zeros=zeros,
        prepare=lambda params, tables: (),
        advance=advance,
        contract=contract,
        numbers=lambda m: get_cell(m.cell).channels * m.units * cell_param_count(m),
    )
