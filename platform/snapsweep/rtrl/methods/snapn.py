"""SnAp-n (n >= 2): J_t ← M_n ⊙ (I_t + D_t J_{t-1}) with only the pattern's entries stored.

Layout: one array J [k, B, N·C, R] per batch. For owner unit v, row (a, c) holds ∂s[c, nbr[v, a]]
with respect to the R = G (m_in + m + 1) unmasked parameters of v's row, gate by gate: W at its
kept input columns, U at its kept recurrent columns, b (masks.compact_columns; a row without a mask
is stored whole). The update is local to N_v:
  J_v ← D_local[v] J_v + immediate at slot 0,   D_local[v] = D restricted to N_v x N_v,
followed by the mask `keep` (M_n within N_v, per channel and gate) where the cell's pattern differs
between gates or channels (the LSTM); for a one-channel cell whose gates all drive the state the
mask is exactly `valid`, which zero rows of D_local already enforce. That equals the masked dense
update because J is zero outside the pattern: every term D[u, w] J[w] that feeds a kept entry has w
in N_v. D is never formed densely per example:
  D = diag(direct) + Σ_g diag(coef_g) U_g,
with `direct` and `coef_g` from JVPs through the cell (w.r.t. the state with the matvec stopped, and
w.r.t. a zero probe added to the matvec outputs), and U_g gathered on N_v x N_v once per call.

Speed: the step is one batched matrix product per (owner, example). Where the pattern is the same
for every gate it is [N·C + 1 x N·C] @ [N·C x R]: the extra row δᵀ D_local gives the gradient,
Σ_a δ[a] J_t[a] = (δᵀ D_local) J_{t-1} + δ[slot 0] I_t (`fused_contract`), so the new traces are not
read again (that read, a batched matrix-vector product, ran at a fraction of the copy bandwidth on
XLA:CPU). The LSTM's per-gate mask comes after the product, so there δ meets
the masked traces. The product's output and the immediate term are added into the carry: the
traces are read twice and written twice per step. With the owner axis leading nothing needs a
transposed copy of the traces. Resets are folded into D_local (`fused_reset`) rather than a
separate pass. The product does 2 (N·C + 1) FLOPs per trace entry against 16 bytes moved, so on a
CPU it is bound by the product rate at contracting dimension N·C, not by bandwidth.

Memory: k · N · C · G · (m + m_in + 1) numbers per example (N = neighbourhood bound, m = fan-in).
On a dense network N = k and this is RTRL (SnAp-2 on a dense net equals RTRL); the budget decides.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from typing import Any, NamedTuple

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.costs import input_fan_in, neighbourhood_size
from snapsweep.rtrl.immediate import channel_basis, coefficients, kept_presynaptic, presynaptic
from snapsweep.rtrl.masks import compact_columns, scatter_columns
from snapsweep.rtrl.methods.forward import TraceRule
from snapsweep.rtrl.neighbourhoods import neighbourhood_tables


class SnapNTraces(NamedTuple):
    """J on each unit's neighbourhood, unmasked row entries only: [k, B, N·C, G·(m_in + m + 1)]."""

    J: Any


def uniform_pattern(cell) -> bool:
    """M_n within N_v is `valid` for every channel and gate: one channel, driven by every gate."""
    return cell.channels == 1 and all(row == (1,) for row in cell.gate_channels)


def make_rule(model, n: int) -> TraceRule:
    cell = get_cell(model.cell)
    C, G, k = cell.channels, cell.gates, model.units
    N = neighbourhood_size(model, n)
    widths = {"W": input_fan_in(model), "U": model.fan_in}
    R1 = widths["W"] + widths["U"] + 1  # one gate's part of a row
    full_width = {"W": model.input_width, "U": k}
    dtype = jnp.dtype(model.dtype)
    masked = not uniform_pattern(cell)

    def prepare(structure):
        masks = structure["masks"]
        return dict(neighbourhood_tables(model, masks, n), cols=compact_columns(model, masks))

    def zeros(tables, batch_size):
        return SnapNTraces(jnp.zeros((k, batch_size, N * C, G * R1), dtype))

    def hoist(params, tables):
        nbr, valid = tables["nbr"], tables["valid"]
        # U_local[v, g, a, b] = U_g[nbr[v, a], nbr[v, b]], zero on padding slots.
        U_local = params["U"][:, nbr[:, :, None], nbr[:, None, :]]  # [G, k, N, N]
        pair = (valid[:, :, None] & valid[:, None, :])[None]
        hoisted = {"U_local": jnp.moveaxis(jnp.where(pair, U_local, 0), 0, 1), **tables}
        if masked:  # keep [k, N, C, G] -> [k, N·C, G·R1], the layout of J
            keep = jnp.repeat(tables["keep"].astype(dtype), R1, axis=3)
            hoisted["keep_rows"] = keep.reshape(k, 1, N * C, G * R1)
        return hoisted

    def presynaptic_row(name, vec, x, cols):
        """[B, G, k, width] presynaptic values of leaf `name` at the stored columns."""
        B = vec.shape[0]
        if name in cols:
            return jnp.broadcast_to(kept_presynaptic(vec, x if name == "W" else None, cols[name]),
                                    (B, G, k, widths[name]))
        return jnp.broadcast_to(vec[:, None, None, :], (B, G, k, vec.shape[-1]))

    def local_jacobian(p, hoisted, state, x):
        """-> (new state, D_local [k, B, N·C, N·C] with rows (a, co), columns (b, ci), coef leaves)."""
        nbr, valid = hoisted["nbr"], hoisted["valid"]
        eps0 = jnp.zeros((G, k), dtype)

        def one(s, x_):
            new, coef = coefficients(cell, p, s, x_)
            f = lambda s_, eps: cell.step(p, s_, x_, matvec.probed(eps))
            t_state = jnp.concatenate([channel_basis(s), jnp.zeros((G, C, k), dtype)])
            t_eps = jnp.concatenate([jnp.zeros((C, G, k), dtype),
                                     jnp.broadcast_to(jnp.eye(G, dtype=dtype)[:, :, None], (G, G, k))])
            outs = jax.vmap(lambda ts, te: jax.jvp(f, (s, eps0), (ts, te))[1])(t_state, t_eps)
            return new, coef, outs[:C], outs[C:]  # direct [ci, co, k], coef_D [g, co, k]

        new, coef, direct, coef_d = jax.vmap(one)(state, x)
        dir_l = jnp.transpose(direct[..., nbr], (3, 0, 4, 2, 1))  # [k, B, N, co, ci]
        cross = jnp.einsum("bgcva,vgax->vbacx", coef_d[..., nbr], hoisted["U_local"])  # via h only
        eyeN = jnp.eye(N, dtype=dtype)
        D = eyeN[None, None, :, None, :, None] * dir_l[:, :, :, :, None, :]
        D = D.at[..., 0].add(cross)
        D = D * valid[:, None, :, None, None, None]  # padding rows stay zero
        B = state.shape[0]
        return new, D.reshape(k, B, N * C, N * C), coef

    def parameter_grads(rows, cols):
        """Rows [k, G·R1] of Σ_b δᵀ J (one per owner) -> gradients in parameter shape."""
        rows = jnp.swapaxes(rows.reshape(k, G, R1), 0, 1)  # [G, k, R1]
        split = {"W": rows[..., :widths["W"]], "U": rows[..., widths["W"]:-1]}
        grads = {name: scatter_columns(v, cols[name], full_width[name]) if name in cols else v
                 for name, v in split.items()}
        grads["b"] = rows[..., -1]
        return grads

    def advance(p, hoisted, state, traces, x, key, reset, delta_of):
        cols = hoisted["cols"]
        new, D, coef = local_jacobian(p, hoisted, state, x)
        # A reset example's traces restart from J = 0: a zero D_local gives D J = 0 (the traces are
        # finite; a non-finite one has already poisoned the loss and stopped the member), so the
        # traces are not rewritten by a separate pass first.
        D = jnp.where(reset[None, :, None, None], jnp.zeros((), dtype), D)
        B = state.shape[0]
        x_vec, h = presynaptic(x, state[:, 0], model.input_width)
        pre = {"W": presynaptic_row("W", x_vec, x, cols), "U": presynaptic_row("U", h, x, cols)}
        # Immediate term of owner v at slot 0, channel c: [k, B, C, G·R1] (immediate.py).
        parts = [coef[name][..., None] * pre[name][:, None] for name in ("W", "U")] + [coef["b"][..., None]]
        imm = jnp.concatenate(parts, axis=-1)  # [B, C, G, k, R1]
        imm = jnp.transpose(imm, (3, 0, 1, 2, 4)).reshape(k, B, C, G * R1)
        delta, aux = delta_of(new)
        # δ on each owner's neighbourhood, in J's row order (a, c): [k, B, N·C].
        d_nbr = jnp.transpose(delta[:, :, hoisted["nbr"]], (2, 0, 3, 1)).reshape(k, B, N * C)
        if masked:
            out = jnp.einsum("vbij,vbjr->vbir", D, traces.J)
        else:
            # The gradient Σ_b Σ_a δ[a] J_t[a] = Σ_b ((δᵀ D) J_{t-1} + δ[slot 0] imm): one more row of
            # the product, δᵀ D, so the new traces are not read again for it (that read, a batched
            # matrix-vector product, ran far below the copy bandwidth on XLA:CPU).
            row = jnp.einsum("vbi,vbij->vbj", d_nbr, D)
            out = jnp.einsum("vbij,vbjr->vbir", jnp.concatenate([D, row[:, :, None]], axis=2), traces.J)
            rows = jnp.sum(out[:, :, N * C] + jnp.einsum("vbc,vbcr->vbr", d_nbr[:, :, :C], imm), axis=1)
            out = out[:, :, :N * C]
        # The immediate term added over the whole array (zero past slot 0), not into a slice: an
        # elementwise pass may write into the carry's own buffer, where an in-place slice update of
        # the product's output left that output to be copied back into the carry every step.
        out = out + jnp.pad(imm, ((0, 0), (0, 0), (0, (N - 1) * C), (0, 0)))
        if masked:  # M_n ⊙ (I + D J); the mask differs between gates, so δ meets the new traces
            out = out * hoisted["keep_rows"]
            # A multiply-and-reduce, not a dot: XLA:CPU runs this batched matrix-vector product as
            # one reading pass, where its dot emitter took as long as the whole trace update.
            rows = jnp.sum(d_nbr[..., None] * out, axis=(1, 2))
        return new, SnapNTraces(out), parameter_grads(rows, cols), (delta, aux)

    return TraceRule(prepare=prepare, zeros=zeros, hoist=hoist, advance=advance, contract=None,
                     fused_reset=True, fused_contract=True)
