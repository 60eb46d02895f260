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

Layout and performance. The update is bound by memory bandwidth (B·C·p trace numbers per step). The
traces are stored per leaf as [G, k, C·B, (n)] (W: n = n_in, U: n = k, b: none): entry (g, i, n) of
channel c of example b at J[g, i, c·B + b, n] (one merged axis: a size-1 channel axis made XLA:CPU
pick a layout for the loop carry that it then copied back every step). Then
  - the update J[g, i, co, b, n] = Σ_ci d[b, co, ci, i] J[g, i, ci, b, n] + c[b, co, g, i] pre[b, n] is
    one elementwise expression over the whole batch with the presynaptic axis minor (the sum over ci
    unrolled, C <= 2; pre is the [B, n_in] one-hot or embedding, or h): one fused pass that reads
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
from snapsweep.rtrl.immediate import channel_basis, coefficients, presynaptic
from snapsweep.rtrl.methods.forward import TraceRule, no_hoist, no_tables
from snapsweep.rtrl.model import cell_shapes

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


def make_rule(model) -> TraceRule:
    cell = get_cell(model.cell)
    C = cell.channels

    def zeros(tables, batch_size):
        # parameter leaf [G, k, ...] -> trace leaf [G, k, C·B, ...]
        return Snap1Traces(**jax.tree.map(
            lambda sd: jnp.zeros(sd.shape[:2] + (C * batch_size,) + sd.shape[2:], sd.dtype), cell_shapes(model)))

    def reset(traces, reset_b):
        def zero(J):
            keep = jnp.tile(~reset_b, C).reshape((-1,) + (1,) * (J.ndim - BATCH_AXIS - 1))
            return jnp.where(keep, J, jnp.zeros((), J.dtype))

        return jax.tree.map(zero, traces)

    def advance(p, hoisted, state, traces, x, key):
        new, d, coef = jax.vmap(lambda s, x_: diagonal_and_coefficients(cell, p, s, x_))(state, x)
        x_vec, h = presynaptic(x, state[:, 0], model.input_width)  # [B, n_in] (one-hot: iota == x), [B, k]
        pre = {"W": x_vec, "U": h}  # [B, n]
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
        d, coef, pre = jax.tree.map(lambda a: a / one, (d, coef, pre))

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

    def contract(delta, traces, hoisted):
        # grad[g, i, ...] = Σ_c Σ_b δ[b, c, i] J[g, i, c, b, ...]: a batched (over g, i) vector-matrix product.
        def one(J):
            G, k, CB = J.shape[:3]
            dl = jnp.broadcast_to(jnp.transpose(delta, (2, 1, 0)).reshape(1, k, CB), (G, k, CB))
            if J.ndim == 3:
                return jnp.sum(dl * J, axis=2)
            return jax.lax.dot_general(dl, J, (((2,), (2,)), ((0, 1), (0, 1))))

        return {name: one(J) for name, J in traces._asdict().items()}

    return TraceRule(
        prepare=no_tables,
        zeros=zeros,
        hoist=no_hoist,
        advance=advance,
        contract=contract,
        reset=reset,
    )
