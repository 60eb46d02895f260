"""Recurrent products a cell can be run with. Each gives the same value U_g h; they differ only in
which derivatives flow through them, which is how methods read pieces of D_t = dh_t/dh_{t-1}.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

sg = jax.lax.stop_gradient


def dense(U: jax.Array, h: jax.Array) -> jax.Array:
    """The plain product: [G, k, k] x [k] -> [G, k]."""
    return jnp.einsum("gij,j->gi", U, h)


def diagonal_cut(U: jax.Array, h: jax.Array) -> jax.Array:
    """Value U h, derivative diag(U): a JVP through the cell then gives diag(D) (2x2 blocks for the
    LSTM) at elementwise cost, with no k x k Jacobian."""
    diag = jnp.diagonal(U, axis1=1, axis2=2)
    return dense(U, sg(h)) + diag * (h - sg(h))


def stopped(U: jax.Array, h: jax.Array) -> jax.Array:
    """Value U h, no derivative w.r.t. h: a JVP then gives only the direct (elementwise) part of D."""
    return dense(U, sg(h))


def probed(eps: jax.Array):
    """A product with an additive probe `eps` [G, k] (zero-valued) and no h-derivative: a JVP w.r.t.
    `eps` gives dh'/d(U_g h), the per-unit coefficients of D = diag(direct) + sum_g diag(coef_g) U_g."""

    def matvec(U, h):
        return dense(U, sg(h)) + eps

    return matvec
