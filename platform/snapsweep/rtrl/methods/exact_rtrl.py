"""Exact RTRL: dense per-example influence J_t = I_t + D_t J_{t-1} (k·C x p). The test oracle.

I_t by reverse mode (C·k VJPs) and D_t by forward mode (C·k JVPs), per example: only for small k,
which the memory budget enforces. `numeric_mask=True` gives the paper's Appendix-D variant ("snap-numeric").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from typing import Any, NamedTuple

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.costs import cell_param_count
from snapsweep.rtrl.methods.forward import TraceRule, no_hoist, no_tables
from snapsweep.rtrl.model import cell_shapes


class RtrlTraces(NamedTuple):
    """The dense influence matrix per example: J [B, C·k, p] (p: the flattened cell parameters)."""

    J: Any


def make_rule(model, numeric_mask: bool = False) -> TraceRule:
    cell = get_cell(model.cell)
    C, k = cell.channels, model.units
    S, p = C * k, cell_param_count(model)
    dtype = jnp.dtype(model.dtype)

    def zeros(tables, batch_size):
        return RtrlTraces(jnp.zeros((batch_size, S, p), dtype))

    def advance(params, hoisted, state, traces, x, key):
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

        new, J = jax.vmap(one)(state, traces.J, x)
        return new, RtrlTraces(J)

    def contract(delta, traces, hoisted):
        _, unravel = ravel_pytree(jax.tree.map(lambda sd: jnp.zeros(sd.shape, sd.dtype), cell_shapes(model)))
        return unravel(jnp.einsum("bs,bsp->p", delta.reshape(delta.shape[0], S), traces.J))

    return TraceRule(
        prepare=no_tables,
        zeros=zeros,
        hoist=no_hoist,
        advance=advance,
        contract=contract,
    )
