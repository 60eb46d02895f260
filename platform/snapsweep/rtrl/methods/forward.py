"""The forward-mode driver shared by RTRL, SnAp (trace form), SnAp-n, UORO and the Appendix-D variant.

A `TraceRule` says how a method's traces (its approximation of the influence matrix J) advance one
step and how they turn δ_t = ∂L_t/∂h_t into a gradient; this module does the scanning, resets,
readout gradients and the online/offline distinction, identically for every rule.

Offline mode starts every window from J_0 = 0 (the truncation BPTT makes at the window start), so
offline RTRL equals BPTT and offline SnAp-1 equals its diagonal-cut form. Online mode carries the
traces from call to call; the trainer applies an update between calls, so the traces were built
with stale parameters: that staleness is part of RTRL and SnAp.

Traces are taken w.r.t. the effective weights W ⊙ M; the gradient w.r.t. the stored weights is that
gradient times M (chain rule), applied once at the end of a call.

Input embeddings (input_kind "embed") get a one-step gradient: Σ_t δ_t ∂h_t/∂e_t, with no influence
traces for E. This departs from the paper (which uses one-hot inputs); BPTT treats E exactly.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from snapsweep.rtrl import costs
from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.methods.unroll import exact_forward, no_tables
from snapsweep.rtrl.model import apply_masks, cell_inputs, readout_loss, reset_rows, zero_state
from snapsweep.rtrl.registry import MethodId
from snapsweep.rtrl.types import Carry, Method, Stats


class TraceRule(NamedTuple):
    # prepare(structure) -> static index tables (unbatched; () when none); the method's `prepare`
    prepare: Callable
    # zeros(tables, batch_size) -> the rule's named trace type with a batch axis, all zero (J_0 = 0)
    zeros: Callable
    # hoist(cell_params, tables) -> per-call values hoisted out of the time loop
    hoist: Callable
    # advance(cell_params, hoisted, state [B,C,k], traces, x [B,...], key) -> (state, traces)
    advance: Callable
    # contract(delta [B,C,k], traces, hoisted) -> grads w.r.t. the cell params (a dict like
    # params["cell"]), summed over the batch; None for a rule with `fused_contract`
    contract: Callable | None
    # reset(traces, reset [B]) -> traces with the rows of reset examples zeroed; None: the batch axis
    # leads every leaf (model.reset_rows). Rules with another layout (snap1_traces: [G, k, C·B, ...]) set it.
    reset: Callable | None = None
    # True: the rule applies resets itself, inside `advance(..., reset=reset [B])`, so the traces are
    # not rewritten by a separate pass every step (snapn folds it into its D_local product).
    fused_reset: bool = False
    # True: the rule contracts δ_t with its new traces while it makes them, so they are not read
    # again for the gradient: `advance(..., delta_of=f)` with f(new state) -> (δ_t, aux) returns
    # (state, traces, grads, (δ_t, aux)); the driver then does not call `contract` (snapn folds it
    # into its product).
    fused_contract: bool = False


def no_hoist(cell_params, tables):
    return ()


def make_forward_method(model, rule: TraceRule, method_id: MethodId) -> Method:
    cell = get_cell(model.cell)
    embed = model.input_kind == "embed"
    online = method_id.online

    def init(params, structure, tables, batch_size, key):
        return Carry(state=zero_state(model, batch_size), traces=rule.zeros(tables, batch_size), key=key)

    def step(params, structure, tables, carry, window):
        masks = structure["masks"]
        cell_params = apply_masks(params["cell"], masks)
        hoisted = rule.hoist(cell_params, tables)
        B = window.y.shape[1]
        # Offline every window starts from J_0 = 0; the carry still holds the traces of the last
        # window, so its size is the method's memory (cost) and one carry layout serves both modes.
        trace0 = carry.traces if online else rule.zeros(tables, B)
        xs = cell_inputs(model, params, window.x)
        dtype = jnp.dtype(model.dtype)
        acc0 = {
            "cell": jax.tree.map(jnp.zeros_like, cell_params),
            "readout": jax.tree.map(jnp.zeros_like, params["readout"]),
            "loss_sum": jnp.zeros((), dtype),
            "count": jnp.zeros((), dtype),
        }
        if embed:
            acc0["embed"] = jnp.zeros_like(params["embed"]["E"])
        inv_b = jnp.asarray(1.0 / B, dtype)

        def body(c, inputs):
            state, trace, key, acc = c
            x, tok, y, w, reset = inputs
            state = reset_rows(state, reset)
            key, sub = jax.random.split(key)

            def delta_of(new_state):
                """δ_t = ∂L_t/∂s_t through the readout, with (loss_sum, count, readout gradient)."""
                (loss_sum, count), pull = jax.vjp(lambda ro, h: readout_loss(ro, h, y, w), params["readout"],
                                                  new_state[:, 0])
                g_readout, dh = pull((inv_b, jnp.zeros((), dtype)))
                return jnp.zeros_like(new_state).at[:, 0].set(dh), (loss_sum, count, g_readout)

            if not rule.fused_reset:
                trace = rule.reset(trace, reset) if rule.reset is not None else reset_rows(trace, reset)
            extra = {"reset": reset} if rule.fused_reset else {}
            if rule.fused_contract:
                new_state, trace, g_cell, (delta, aux) = rule.advance(cell_params, hoisted, state, trace, x, sub,
                                                                      delta_of=delta_of, **extra)
            else:
                new_state, trace = rule.advance(cell_params, hoisted, state, trace, x, sub, **extra)
                delta, aux = delta_of(new_state)
                g_cell = rule.contract(delta, trace, hoisted)
            loss_sum, count, g_readout = aux
            acc = dict(acc)
            acc["cell"] = jax.tree.map(jnp.add, acc["cell"], g_cell)
            acc["readout"] = jax.tree.map(jnp.add, acc["readout"], g_readout)
            acc["loss_sum"] = acc["loss_sum"] + loss_sum
            acc["count"] = acc["count"] + count
            if embed:
                _, pull_x = jax.vjp(
                    lambda e: jax.vmap(lambda s_, e_: cell.step(cell_params, s_, e_, matvec.dense))(state, e), x)
                (g_e,) = pull_x(delta)
                acc["embed"] = acc["embed"].at[tok].add(g_e)
            return (new_state, trace, key, acc), None

        (state, trace, key, acc), _ = jax.lax.scan(
            body, (carry.state, trace0, carry.key, acc0), (xs, window.x, window.y, window.weight, window.reset))
        grads = {"cell": apply_masks(acc["cell"], masks), "readout": acc["readout"]}
        if embed:
            grads["embed"] = {"E": acc["embed"]}
        stats = Stats(loss_sum=acc["loss_sum"], count=acc["count"])
        return acc["loss_sum"] * inv_b, grads, Carry(state, trace, key), stats

    return Method(id=method_id, prepare=rule.prepare, init=init, step=step, forward=exact_forward(model),
                  cost=lambda batch: costs.cost(method_id, model, batch))
