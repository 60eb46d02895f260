"""SnAp-n's structural pattern as per-unit padded neighbourhoods plus a per-channel, per-gate mask.

M_n = pattern(I + D I + … + D^{n-1} I), fixed by the cell type and the weight masks, never by
|I_t| > 0. A parameter of unit v's row touches only unit v within one step, so the units where its
column of M_n is nonzero are those reachable from v within n-1 steps of D's unit-level pattern
(`A[u, w]`: some gate's mask keeps U[u, w], or u == w): the neighbourhood N_v. Within a reached unit
the pattern can be finer: for the LSTM the output gate drives only h at its own step, so
(c_v, o-gate parameters of v) enters M_2 only through a kept diagonal of U. `keep` carries that
detail, from the cell's declared one-step pattern (cells/base.py).

Tables, padded to a size that depends only on the config (costs.neighbourhood_size):
  nbr [k, N]         units of N_v, v itself first (slot 0, where the immediate term lands)
  valid [k, N]       False on padding slots
  keep [k, N, C, G]  M_n restricted to (unit nbr[v, a], channel c) x (gate-g parameters of unit v)
(the kept columns of each row, so traces store only unmasked weights, are masks.compact_columns).
"""

from __future__ import annotations

import jax.numpy as jnp

from snapsweep.rtrl.cells import get_cell
from snapsweep.rtrl.costs import neighbourhood_size


def unit_graph(mask_u):
    """A[u, w] = 1 where some gate's mask keeps U[u, w] (u reads h_w), float32 [k, k]."""
    return jnp.minimum(jnp.sum(mask_u > 0, axis=0), 1).astype(jnp.float32)


def reach(mask_u, n: int):
    """R[u, v]: u is reachable from v within n-1 steps of D's unit-level pattern (A or self)."""
    k = mask_u.shape[-1]
    eye = jnp.eye(k, dtype=jnp.float32)
    A = jnp.minimum(unit_graph(mask_u) + eye, 1.0)
    R = eye
    for _ in range(n - 1):
        R = jnp.minimum(A @ R, 1.0)
    return R > 0


def state_pattern(cell, mask_u, n: int):
    """M_n per gate at the state level: P[g, c, u, v] for (channel c of unit u, gate-g params of v)."""
    k = mask_u.shape[-1]
    G = cell.gates
    # A_g[u, w]: gate g's mask keeps U_g[u, w] (a shared mask serves every gate).
    A = jnp.broadcast_to((mask_u > 0).astype(jnp.float32), (G, k, k))
    eye = jnp.eye(k, dtype=jnp.float32)
    own = jnp.asarray(cell.own_channels, jnp.float32)  # [co, ci]
    reads = jnp.asarray(cell.matvec_channels, jnp.float32)  # [gate, co]
    term = jnp.asarray(cell.gate_channels, jnp.float32)[:, :, None, None] * eye  # [G, C, k, k]: I
    total = term
    for _ in range(n - 1):
        # D term: own-unit channel coupling, plus channel co of u reading h_w through a kept U_gate[u, w].
        via_own = jnp.einsum("oi,giuv->gouv", own, term)
        via_u = jnp.einsum("ho,huw,gwv->gouv", reads, A, term[:, 0])
        term = jnp.minimum(via_own + via_u, 1.0)
        total = jnp.minimum(total + term, 1.0)
    return total > 0


def neighbourhood_tables(model, masks, n: int):
    cell = get_cell(model.cell)
    k = model.units
    N = neighbourhood_size(model, n)
    R = reach(masks["U"], n)
    u = jnp.arange(k)
    # For owner v (a row here): v first, then reachable units in index order, then the rest.
    order_key = jnp.where(u[None, :] == u[:, None], -1, jnp.where(R.T, u[None, :], k + u[None, :]))
    nbr = jnp.argsort(order_key, axis=1)[:, :N].astype(jnp.int32)
    valid = jnp.take_along_axis(R.T, nbr, axis=1)
    P = state_pattern(cell, masks["U"], n)  # [G, C, u, v]
    keep = P[:, :, nbr, jnp.arange(k)[:, None]]  # [G, C, k(v), N]
    keep = jnp.transpose(keep, (2, 3, 1, 0)) & valid[:, :, None, None]
    return {"nbr": nbr, "valid": valid, "keep": keep}
