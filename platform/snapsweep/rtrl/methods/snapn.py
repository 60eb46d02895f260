"""SnAp-n (n >= 2): J_t ← M_n ⊙ (I_t + D_t J_{t-1}) with the pattern stored compactly.

Layout (per example): for each owner unit v, J_v[a, c, ...row] holds ∂s[c, nbr[v, a]] / ∂(row-v
parameters), with U's row stored only at its kept columns. The update is local to N_v:
  J_v ← D_local[v] J_v + immediate at slot 0,   D_local[v] = D restricted to N_v x N_v,
followed by the mask `keep` (M_n within N_v, per channel and gate). That equals the masked dense
update because J is zero outside the pattern: every term D[u, w] J[w] that feeds a kept entry has w
in N_v. D is never formed densely per example:
  D = diag(direct) + Σ_g diag(coef_g) U_g,
with `direct` and `coef_g` from JVPs through the cell (w.r.t. the state with the matvec stopped, and
w.r.t. a zero probe added to the matvec outputs), and U_g gathered on N_v x N_v once per call.

Memory: k · N · C · G · (m + n_in + 1) numbers per example (N = neighbourhood bound, m = fan-in).
On a dense network N = k and this is RTRL (SnAp-2 on a dense net equals RTRL); the budget decides.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from typing import Any, NamedTuple

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.costs import neighbourhood_size
from snapsweep.rtrl.immediate import channel_basis, coefficients, presynaptic
from snapsweep.rtrl.methods.forward import TraceRule
from snapsweep.rtrl.model import cell_shapes
from snapsweep.rtrl.neighbourhoods import neighbourhood_tables


class SnapNTraces(NamedTuple):
    """J restricted to each unit's neighbourhood, rows stored compactly: leaves [B, k, N, C, G, ...row]
    (W: n_in, U: m kept columns, b: none)."""

    W: Any
    U: Any
    b: Any


def make_rule(model, n: int) -> TraceRule:
    cell = get_cell(model.cell)
    C, G, k, m = cell.channels, cell.gates, model.units, model.fan_in
    N = neighbourhood_size(model, n)
    dtype = jnp.dtype(model.dtype)

    def rows(tree, cols):
        """Parameter-shaped pytree (leaves [G, k, ...]) -> per-unit rows (leaves [k, G, ...row])."""
        U = jnp.take_along_axis(tree["U"], jnp.broadcast_to(cols, (G, k, m)), axis=2)
        return {"W": jnp.moveaxis(tree["W"], 1, 0), "U": jnp.moveaxis(U, 1, 0), "b": jnp.moveaxis(tree["b"], 1, 0)}

    def unrows(row_tree, cols):
        """Transpose of `rows` (scatter the kept entries back into parameter shape)."""
        zero = jax.tree.map(lambda sd: jnp.zeros(sd.shape, sd.dtype), cell_shapes(model))
        _, pull = jax.vjp(lambda t: rows(t, cols), zero)
        return pull(row_tree)[0]

    def zeros(tables, batch_size):
        row_shapes = {"W": (G, model.input_width), "U": (G, m), "b": (G,)}
        return SnapNTraces(**{name: jnp.zeros((batch_size, k, N, C) + shape, dtype)
                              for name, shape in row_shapes.items()})

    def hoist(params, tables):
        nbr, valid = tables["nbr"], tables["valid"]
        # U_local[v, g, a, b] = U_g[nbr[v, a], nbr[v, b]], zero on padding slots.
        U_local = params["U"][:, nbr[:, :, None], nbr[:, None, :]]  # [G, k, N, N]
        pair = (valid[:, :, None] & valid[:, None, :])[None]
        return {"U_local": jnp.moveaxis(jnp.where(pair, U_local, 0), 0, 1), **tables}

    def advance_one(p, hoisted, s, J, x):
        nbr, cols = hoisted["nbr"], hoisted["cols"]
        basis = channel_basis(s)
        # Immediate term at the owner slot: coefficient of unit v times presynaptic values (immediate.py),
        # with U's row taken at its kept columns only.
        new, coef = coefficients(cell, p, s, x)
        x_vec, h = presynaptic(x, s[0], model.input_width)
        h_kept = h[jnp.broadcast_to(cols, (G, k, m))]  # [G, k, m]
        imm = {
            "W": jnp.swapaxes(coef["W"], 1, 2)[..., None] * x_vec,  # [C, k, G, n_in]
            "U": jnp.swapaxes(coef["U"][..., None] * h_kept, 1, 2),  # [C, k, G, m]
            "b": jnp.swapaxes(coef["b"], 1, 2),  # [C, k, G]
        }
        # D pieces: direct[ci, co, i] and coef[g, co, i], from C + G JVPs.
        eps0 = jnp.zeros((G, k), dtype)
        f = lambda s_, eps: cell.step(p, s_, x, matvec.probed(eps))
        t_state = jnp.concatenate([basis, jnp.zeros((G, C, k), dtype)])
        t_eps = jnp.concatenate([jnp.zeros((C, G, k), dtype), jnp.broadcast_to(jnp.eye(G, dtype=dtype)[:, :, None], (G, G, k))])
        outs = jax.vmap(lambda ts, te: jax.jvp(f, (s, eps0), (ts, te))[1])(t_state, t_eps)
        direct, coef = outs[:C], outs[C:]
        # D_local[v, a, co, b, ci]
        dir_l = jnp.transpose(direct[:, :, nbr], (2, 3, 1, 0))  # [k, N, co, ci]
        coef_l = coef[:, :, nbr]  # [G, co, k, N]
        cross = jnp.einsum("gcva,vgab->vacb", coef_l, hoisted["U_local"])  # h-channel input only
        eyeN = jnp.eye(N, dtype=dtype)
        D_local = eyeN[None, :, None, :, None] * dir_l[:, :, :, None, :]
        D_local = D_local.at[..., 0].add(cross)

        keep = hoisted["keep"].astype(dtype)  # [k, N, C, G]

        def update(J_leaf, imm_leaf):
            out = jnp.einsum("vacbi,vbi...->vac...", D_local, J_leaf)
            out = out.at[:, 0].add(jnp.moveaxis(imm_leaf, 0, 1))
            return out * keep.reshape(keep.shape + (1,) * (out.ndim - 4))  # M_n ⊙ (I + D J)

        return new, SnapNTraces(**{name: update(J_leaf, imm[name]) for name, J_leaf in J._asdict().items()})

    def advance(p, hoisted, state, traces, x, key):
        return jax.vmap(advance_one, in_axes=(None, None, 0, 0, 0))(p, hoisted, state, traces, x)

    def contract(delta, traces, hoisted):
        d_nbr = delta[:, :, hoisted["nbr"]]  # [B, C, k, N]
        row_grads = {
            name: jnp.einsum("bcva,bvac...->v...", d_nbr, J_leaf) for name, J_leaf in traces._asdict().items()
        }
        return unrows(row_grads, hoisted["cols"])

    return TraceRule(
        prepare=lambda structure: neighbourhood_tables(model, structure["masks"], n),
        zeros=zeros,
        hoist=hoist,
        advance=advance,
        contract=contract,
    )
