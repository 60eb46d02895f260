"""UORO (Tallec & Ollivier 2017): an unbiased rank-one estimate J_t ≈ s̃_t θ̃_tᵀ.

Per step and example, with random signs ν: s̃ ← ρ0 D_t s̃ + ρ1 ν, θ̃ ← θ̃ / ρ0 + (νᵀ I_t) / ρ1, where
ρ0 = sqrt(|θ̃| / (|D_t s̃| + ε)) + ε and ρ1 = sqrt(|νᵀ I_t| / (|ν| + ε)) + ε balance the norms of the
two factors (that minimises the variance). One JVP (D_t s̃) and one VJP (νᵀ I_t) per step; the
gradient estimate of step t is (δ_t · s̃_t) θ̃_t. Memory: C·k + p per example.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from snapsweep.rtrl.budget import cell_param_count
from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.immediate import coefficients, outer, presynaptic
from snapsweep.rtrl.methods.forward import TraceRule
from snapsweep.rtrl.model import cell_shapes

EPS = 1e-7  # Tallec & Ollivier's ε


def make_rule(model) -> TraceRule:
    cell = get_cell(model.cell)
    C, k = cell.channels, model.units
    p = cell_param_count(model)
    dtype = jnp.dtype(model.dtype)

    def unravel_fn():
        return ravel_pytree(jax.tree.map(lambda sd: jnp.zeros(sd.shape, sd.dtype), cell_shapes(model)))[1]

    def zeros(tables, batch_size):
        return {"s": jnp.zeros((batch_size, C, k), dtype), "theta": jnp.zeros((batch_size, p), dtype)}

    def advance(params, hoisted, state, traces, x, key):
        theta, unravel = ravel_pytree(params)
        keys = jax.random.split(key, state.shape[0])

        def one(s, s_tilde, theta_tilde, x_b, key_b):
            f = lambda th, s_: cell.step(unravel(th), s_, x_b, matvec.dense)
            nu = jax.random.rademacher(key_b, (C, k), dtype)
            _, ds = jax.jvp(lambda s_: f(theta, s_), (s,), (s_tilde,))
            # νᵀ I_t from the immediate coefficients (immediate.py): contract ν first, then one outer product.
            new, coef = coefficients(cell, params, s, x_b)
            nu_coef = jax.tree.map(lambda c: jnp.sum(c * nu[:, None, :], axis=0), coef)  # [G, k]
            nu_i = ravel_pytree(outer(nu_coef, *presynaptic(x_b, s[0], model.input_width)))[0]
            rho0 = jnp.sqrt(jnp.linalg.norm(theta_tilde) / (jnp.linalg.norm(ds) + EPS)) + EPS
            rho1 = jnp.sqrt(jnp.linalg.norm(nu_i) / (jnp.linalg.norm(nu) + EPS)) + EPS
            return new, {"s": rho0 * ds + rho1 * nu, "theta": theta_tilde / rho0 + nu_i / rho1}

        return jax.vmap(one)(state, traces["s"], traces["theta"], x, keys)

    def contract(delta, traces, hoisted):
        coeff = jnp.sum(delta * traces["s"], axis=(1, 2))  # δ_t · s̃_t per example
        return unravel_fn()(coeff @ traces["theta"])

    return TraceRule(
        name="uoro",
        tables=lambda structure: (),
        zeros=zeros,
        prepare=lambda params, tables: (),
        advance=advance,
        contract=contract,
        numbers=lambda m: get_cell(m.cell).channels * m.units + cell_param_count(m),
    )
