"""Reverse-mode unrolling over a window: the loss that BPTT and the diagonal-cut SnAp-1 differentiate.

`transition(cell_params, state [B,C,k], x [B,...]) -> state` is batched; only it differs between
exact BPTT and the diagonal-cut graph.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.model import apply_masks, cell_inputs, readout_loss, reset_rows


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
