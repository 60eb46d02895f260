"""The immediate Jacobian I_t of the cells, as per-unit coefficients times presynaptic values.

Every parameter of row i enters one step through a per-unit pre-activation: W[g, i, n] through the
input drive (W_g x)_i, U[g, i, j] through (U_g h)_i, b[g, i] directly. So
    I_t[(c, i), W[g, i, n]] = ∂s'[c, i] / ∂(W_g x)_i · x_n,   I_t[(c, i), U[g, i, j]] = ∂s'[c, i] / ∂(U_g h)_i · h_j,
and zero for other units: a coefficient per unit times a presynaptic value, c_t[i] · pre_t[j]. The coefficients come from one VJP per
state channel with a cotangent of ones, taken w.r.t. the drive, a zero probe on the matvec output
and b: elementwise work, no per-example scatter into W's shape, no k x k Jacobian.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.cells import input_drive, matvec


def channel_basis(state):
    """[C, C, k]: for each channel c, a [C, k] array with ones on channel c (tangents/cotangents)."""
    C, k = state.shape
    return jnp.broadcast_to(jnp.eye(C, dtype=state.dtype)[:, :, None], (C, C, k))


def coefficients(cell, params, state, x):
    """-> (new_state [C, k], coef) for one example; coef leaves "W", "U", "b" are [C, G, k]:
    the derivative of channel c of unit i w.r.t. the drive, the recurrent product and the bias of
    gate g at unit i."""
    G, k = params["b"].shape
    drive0 = input_drive(params["W"], x)
    eps0 = jnp.zeros((G, k), drive0.dtype)

    def step(drive, eps, b):
        return cell.step(dict(params, b=b), state, x, matvec.probed(eps), drive=lambda W, x_: drive)

    new, pull = jax.vjp(step, drive0, eps0, params["b"])
    c_drive, c_rec, c_b = jax.vmap(pull)(channel_basis(state))
    return new, {"W": c_drive, "U": c_rec, "b": c_b}


def presynaptic(x, h, n_in: int):
    """(input vector, recurrent vector): a one-hot token becomes its one-hot vector."""
    if jnp.issubdtype(x.dtype, jnp.integer):
        x = jax.nn.one_hot(x, n_in, dtype=h.dtype)
    return x, h


def outer(coef, x_vec, h):
    """Immediate entries in parameter shape: coef leaves [..., G, k] -> W [..., G, k, n_in], U [..., G, k, k],
    b [..., G, k]."""
    return {"W": coef["W"][..., None] * x_vec, "U": coef["U"][..., None] * h, "b": coef["b"]}


def kept_presynaptic(vec, x, cols):
    """Presynaptic values [B, n] at kept columns cols [Gm, k, m] -> [B, Gm, k, m]. A one-hot token
    (integer x) becomes a comparison with the column index: no one-hot vector, no gather."""
    if x is not None and jnp.issubdtype(x.dtype, jnp.integer):
        return (cols[None] == x[:, None, None, None]).astype(vec.dtype)
    return vec[:, cols]
