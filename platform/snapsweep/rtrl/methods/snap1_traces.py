"""SnAp-1, trace form: J_t[i, j] = d_t[i] · J_{t-1}[i, j] + c_t[i] · pre_t[j] (Menick et al. 2021, SnAp-1).

Only the entry of each parameter at its own unit is kept, so the traces have the parameters' shape
per example (times C = 2 for the LSTM, whose traces are 2-vectors updated with the per-unit 2x2
block of D). diag(D_t) comes from JVPs through the diagonal-cut matvec, the immediate term from
VJPs with a cotangent of ones on one channel: in these cells every parameter of row i drives only
unit i within one step, so that VJP is exactly I_t at the kept entries. The mask is structural,
never |I_t| > 0 (the "snap-numeric" method is that variant).

LSTM note: as in the paper's SnAp-1 for LSTMs, every parameter of unit i keeps the 2-vector (h_i, c_i)
and the full 2x2 block. The strict pattern M_1 = pattern(I_t) would drop (c_i, output-gate
parameters of i), which is zero in I_t; the block form keeps it, so its value (nonzero only through
a kept diagonal of U) carries over. The diagonal-cut form (snap1_cut.py) computes the same thing.

Only unmasked parameters get a trace: U's row is stored at its m kept columns and, with masked
inputs, W's at its kept input columns (masks.compact_columns; every row keeps the same number, so
shapes are static); the gradient is scattered back into parameter shape once per step.

Layout and performance. The update is bound by memory bandwidth (B·C·k·G·(m_in + m + 1) trace
numbers per step). The traces are stored per leaf as [G, k, C·B, (n)] (W: n = m_in, U: n = m, b:
none): entry (g, i, n) of
channel c of example b at J[g, i, c·B + b, n] (one merged axis: a size-1 channel axis made XLA:CPU
pick a layout for the loop carry that it then copied back every step). Then
  - the update J[g, i, co, b, n] = Σ_ci d[b, co, ci, i] J[g, i, ci, b, n] + c[b, co, g, i] pre[b, n] is
    one elementwise expression over the whole batch with the presynaptic axis minor (the sum over ci
    unrolled, C <= 2; pre is the [B, n_in] one-hot or embedding, or h, at the kept columns where a
    mask thins the row: a comparison for one-hot tokens, a gather otherwise): one fused pass that reads
    and writes every trace entry once and materialises no [B, p] immediate term;
  - the gradient Σ_b Σ_c δ[b, c, i] J[g, i, c, b, n] is a batched vector-matrix product with (g, i)
    as leading batch axes and (c, b) contracted: it reads the new traces once, in place, no transpose.
Only d_t [B, C, C, k] and c_t [B, C, G, k] are computed under vmap, and they are materialised before
the trace loop (see `advance`: XLA:CPU otherwise redid their ~30 producing ops per trace entry).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from typing import Any, NamedTuple

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.costs import input_fan_in
from snapsweep.rtrl.immediate import channel_basis, coefficients, kept_presynaptic, presynaptic
from snapsweep.rtrl.masks import compact_columns, scatter_columns
from snapsweep.rtrl.methods.forward import TraceRule

BATCH_AXIS = 2  # of every trace leaf: [G, k, C·B, ...] (channel-major)


class Snap1Traces(NamedTuple):
    """SnAp-1's kept entries of J, one leaf per cell parameter, stored [G, k, C·B, (n)]."""

    W: Any
    U: Any
    b: Any


def diagonal_and_coefficients(cell, p, s, x):
    """One example: (new state [C, k], d [co, ci, k] = ∂s'[co, i]/∂s[ci, i], coef leaves [C, G, k])."""
    f_cut = lambda s_: cell.step(p, s_, x, matvec.diagonal_cut)
    _, cols = jax.vmap(lambda t: jax.jvp(f_cut, (s,), (t,)))(channel_basis(s))
    new, coef = coefficients(cell, p, s, x)
    return new, jnp.swapaxes(cols, 0, 1), coef


def trace_widths(model) -> dict:
    """Presynaptic width each leaf stores: kept columns only where a mask thins the row (masks.py)."""
    return {"W": input_fan_in(model), "U": model.fan_in, "b": None}


def make_rule(model) -> TraceRule:
    cell = get_cell(model.cell)
    C, G, k = cell.channels, cell.gates, model.units
    widths = trace_widths(model)
    dtype = jnp.dtype(model.dtype)

    def prepare(structure):
        return compact_columns(model, structure["masks"])

    def zeros(tables, batch_size):
        # parameter leaf [G, k, (n)] -> trace leaf [G, k, C·B, (kept n)]
        return Snap1Traces(**{name: jnp.zeros((G, k, C * batch_size) + (() if w is None else (w,)), dtype)
                              for name, w in widths.items()})

    def reset(traces, reset_b):
        def zero(J):
            keep = jnp.tile(~reset_b, C).reshape((-1,) + (1,) * (J.ndim - BATCH_AXIS - 1))
            return jnp.where(keep, J, jnp.zeros((), J.dtype))

        return jax.tree.map(zero, traces)

    def presynaptic_at(name, vec, x, cols):
        """Presynaptic values of leaf `name` broadcastable to [G, k, B, n]: [B, n] at full width, or
        [Gm, k, B, m] at the kept columns."""
        if name not in cols:
            return vec
        return jnp.moveaxis(kept_presynaptic(vec, x if name == "W" else None, cols[name]), 0, 2)

    def advance(p, cols, state, traces, x, key):
        new, d, coef = jax.vmap(lambda s, x_: diagonal_and_coefficients(cell, p, s, x_))(state, x)
        x_vec, h = presynaptic(x, state[:, 0], model.input_width)  # [B, n_in] (one-hot: iota == x), [B, k]
        d = jnp.transpose(d, (1, 2, 3, 0))  # [co, ci, k, B]
        coef = jax.tree.map(lambda c: jnp.transpose(c, (2, 3, 1, 0)), coef)  # [B, C, G, k] -> [G, k, C, B]
        B = x.shape[0]
        # Materialise these small factors before the trace loop. XLA:CPU fuses cheap elementwise
        # producers into their consumer even when the consumer broadcasts them, so the ~30 ops that
        # form c and d from the VJP/JVP outputs were redone for every trace entry (p/k times per
        # value); it does not do that to an "expensive" producer such as a floating divide. Dividing
        # by a runtime 1 (b * 0 + 1 is exactly 1 for a finite b; a non-finite parameter has already
        # poisoned the state) is exact and keeps them as separate, [B, C, G, k]-sized buffers.
        # (optimization_barrier would say this directly, but XLA:CPU removes barriers before fusion.)
        # Measured at k=128 (GRU, B=16): the U-trace update went from 4x the cost of the W one per
        # entry to parity.
        one = p["b"][0, 0] * 0 + 1
        d, coef, x_vec, h = jax.tree.map(lambda a: a / one, (d, coef, x_vec, h))
        pre = {"W": presynaptic_at("W", x_vec, x, cols), "U": presynaptic_at("U", h, x, cols)}

        def update(name, J):
            tail = (1,) * (J.ndim - 3)
            c = coef[name].reshape(coef[name].shape + tail)  # [G, k, C, B, 1]
            out = []
            for co in range(C):
                acc = c[:, :, co] * pre[name] if name in pre else c[:, :, co]
                for ci in range(C):
                    acc = d[co, ci].reshape(d.shape[2:] + tail) * J[:, :, ci * B:(ci + 1) * B] + acc
                out.append(acc)
            return out[0] if C == 1 else jnp.concatenate(out, axis=2)

        return new, Snap1Traces(**{name: update(name, J) for name, J in traces._asdict().items()})

    def contract(delta, traces, cols):
        # grad[g, i, ...] = Σ_c Σ_b δ[b, c, i] J[g, i, c, b, ...]: a batched (over g, i) vector-matrix product.
        def one(name, J):
            G_, k_, CB = J.shape[:3]
            dl = jnp.broadcast_to(jnp.transpose(delta, (2, 1, 0)).reshape(1, k_, CB), (G_, k_, CB))
            if J.ndim == 3:
                return jnp.sum(dl * J, axis=2)
            grad = jax.lax.dot_general(dl, J, (((2,), (2,)), ((0, 1), (0, 1))))
            return scatter_columns(grad, cols[name], full_width[name]) if name in cols else grad

        return {name: one(name, J) for name, J in traces._asdict().items()}

    full_width = {"W": model.input_width, "U": k}
    return TraceRule(
        prepare=prepare,
        zeros=zeros,
        hoist=lambda cell_params, tables: tables,
        advance=advance,
        contract=contract,
        reset=reset,
    )
