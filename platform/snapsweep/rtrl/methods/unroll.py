"""Reverse-mode unrolling over a window: the loss that BPTT and the diagonal-cut SnAp-1 differentiate.

`transition(cell_params, state [B,C,k], x [B,...]) -> state` is batched; only it differs between
exact BPTT and the diagonal-cut graph.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.model import apply_masks, cell_inputs, readout_loss, reset_rows, zero_state
from snapsweep.rtrl.types import Carry, Method


def window_loss(model, transition, params, structure, state, window):
    """-> (loss, (final_state, loss_sum, count)); loss = sum w*CE / B."""
    cell_params = apply_masks(params["cell"], structure["masks"])
    xs = cell_inputs(model, params, window.x)

    def body(s, inputs):
        x, reset = inputs
        s = transition(cell_params, reset_rows(s, reset), x)
        return s, s[:, 0]

    final, hs = jax.lax.scan(body, state, (xs, window.reset))
    T, B = window.y.shape
    # The readout runs once over all steps: one large matmul instead of T small ones.
    loss_sum, count = readout_loss(params["readout"], hs.reshape(T * B, -1), window.y.reshape(-1),
                                   window.weight.reshape(-1))
    return loss_sum / B, (final, loss_sum, count)


def window_grad(model, transition, params, structure, state, window):
    """-> (loss, grads, final_state, stats)."""
    grad_fn = jax.value_and_grad(lambda p: window_loss(model, transition, p, structure, state, window), has_aux=True)
    (loss, (final, loss_sum, count)), grads = grad_fn(params)
    return loss, grads, final, {"loss_sum": loss_sum, "count": count}


def batched(step_one):
    """Lift a per-example transition step_one(cell_params, s [C,k], x) to a batch."""
    return jax.vmap(step_one, in_axes=(None, 0, 0))


def zeros_like_tree(tree):
    return jax.tree.map(jnp.zeros_like, tree)


def backward_method(model, transition, name: str, trace_numbers) -> Method:
    """A method that differentiates the unrolled window through `transition` (BPTT, or BPTT through
    the diagonal-cut graph for offline SnAp-1): no traces, the state is the whole carry."""

    def init(params, structure, batch_size, key):
        return Carry(state=zero_state(model, batch_size), traces=(), key=key)

    def step(params, structure, carry, window):
        loss, grads, final, stats = window_grad(model, transition, params, structure, carry.state, window)
        return loss, grads, Carry(final, carry.traces, carry.key), stats

    return Method(name=name, init=init, step=step, trace_numbers=trace_numbers)
