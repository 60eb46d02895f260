"""UORO (Tallec & Ollivier 2017): an unbiased rank-one estimate J_t ≈ s̃_t θ̃_tᵀ.

Per step and example, with random signs ν: s̃ ← ρ0 D_t s̃ + ρ1 ν, θ̃ ← θ̃ / ρ0 + (νᵀ I_t) / ρ1, where
ρ0 = sqrt(|θ̃| / (|D_t s̃| + ε)) + ε and ρ1 = sqrt(|νᵀ I_t| / (|ν| + ε)) + ε balance the norms of the
two factors (that minimises the variance). One JVP (D_t s̃) and one VJP (νᵀ I_t) per step; the
gradient estimate of step t is (δ_t · s̃_t) θ̃_t. Memory: C·k + p per example.

Performance: θ̃ is the only [B, p] quantity. It is stored in the parameters' shape per example
(leaves [B, G, k, ...]) and νᵀ I_t is never materialised: it is the outer product of the per-unit
coefficients a = Σ_c ν_c c_t[c] ([G, k]) with the presynaptic values (immediate.py), so
|νᵀ I_t|² = |a_W|² |x|² + |a_U|² |h|² + |a_b|², and the update θ̃ / ρ0 + a ⊗ pre / ρ1 is one fused
elementwise pass over the batch (for one-hot inputs pre is an iota comparison inside the loop).
Per step the traces are read for |θ̃|, read and written by the update, and read by the gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from typing import Any, NamedTuple

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.immediate import coefficients, presynaptic
from snapsweep.rtrl.methods.forward import TraceRule, no_hoist, no_tables
from snapsweep.rtrl.model import cell_shapes

EPS = 1e-7  # Tallec & Ollivier's ε


class UoroTraces(NamedTuple):
    """The rank-one factors of J ≈ s̃ θ̃ᵀ: s [B, C, k], theta (cell-parameter shaped, leaves [B, ...])."""

    s: Any
    theta: Any


def make_rule(model) -> TraceRule:
    cell = get_cell(model.cell)
    C, k = cell.channels, model.units
    dtype = jnp.dtype(model.dtype)

    def zeros(tables, batch_size):
        theta = jax.tree.map(lambda sd: jnp.zeros((batch_size,) + sd.shape, sd.dtype), cell_shapes(model))
        return UoroTraces(s=jnp.zeros((batch_size, C, k), dtype), theta=theta)

    def advance(params, hoisted, state, traces, x, key):
        B = state.shape[0]
        nu = jax.vmap(lambda kb: jax.random.rademacher(kb, (C, k), dtype))(jax.random.split(key, B))

        def one(s, s_tilde, x_b, nu_b):
            _, ds = jax.jvp(lambda s_: cell.step(params, s_, x_b, matvec.dense), (s,), (s_tilde,))
            new, coef = coefficients(cell, params, s, x_b)
            nu_coef = jax.tree.map(lambda c: jnp.sum(c * nu_b[:, None, :], axis=0), coef)  # [G, k]
            return new, ds, nu_coef

        new, ds, a = jax.vmap(one)(state, traces.s, x, nu)  # a leaves [B, G, k]
        x_vec, h = presynaptic(x, state[:, 0], model.input_width)  # [B, n_in] (one-hot), [B, k]
        sq = lambda t: jnp.sum(jnp.square(t).reshape(t.shape[0], -1), axis=1)
        norm_nu_i = jnp.sqrt(sq(a["W"]) * sq(x_vec) + sq(a["U"]) * sq(h) + sq(a["b"]))
        norm_theta = jnp.sqrt(sum(sq(t) for t in jax.tree.leaves(traces.theta)))
        rho0 = jnp.sqrt(norm_theta / (jnp.sqrt(sq(ds)) + EPS)) + EPS
        rho1 = jnp.sqrt(norm_nu_i / (jnp.sqrt(sq(nu)) + EPS)) + EPS
        # Per-example factors as small divides: XLA:CPU does not fuse a divide into the trace loop
        # (it would for cheap ops, and then redo them per trace entry; see snap1_traces.py).
        inv0 = 1.0 / rho0
        a = jax.tree.map(lambda c: c / rho1[:, None, None], a)
        pre = {"W": x_vec, "U": h}

        def update(name, theta):
            tail = (1,) * (theta.ndim - 1)
            term = a[name][..., None] * pre[name][:, None, None, :] if name in pre else a[name]
            return inv0.reshape((B,) + tail) * theta + term

        theta = {name: update(name, t) for name, t in traces.theta.items()}
        s_new = rho0[:, None, None] * ds + rho1[:, None, None] * nu
        return new, UoroTraces(s=s_new, theta=theta)

    def contract(delta, traces, hoisted):
        coeff = jnp.sum(delta * traces.s, axis=(1, 2))  # δ_t · s̃_t per example
        return jax.tree.map(lambda t: jnp.einsum("b,b...->...", coeff, t), traces.theta)

    return TraceRule(
        prepare=no_tables,
        zeros=zeros,
        hoist=no_hoist,
        advance=advance,
        contract=contract,
    )
