"""Reverse-mode unrolling over a window: the loss that BPTT and the diagonal-cut SnAp-1 differentiate.

`transition(cell_params, state [B,C,k], x [B,...]) -> state` is batched; only it differs between
exact BPTT and the diagonal-cut graph.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl import costs
from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.model import apply_masks, cell_inputs, readout_loss, reset_rows, zero_state
from snapsweep.rtrl.registry import MethodId
from snapsweep.rtrl.types import Carry, Method, NoTraces, Stats


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
    return loss, grads, final, Stats(loss_sum=loss_sum, count=count)


def exact_transition(model):
    cell = get_cell(model.cell)
    return batched(lambda p, s, x: cell.step(p, s, x, matvec.dense))


def exact_forward(model):
    """The forward pass every method shares (methods differ only in their gradients; the
    diagonal-cut graph has the exact graph's values): -> forward(params, structure, state, window)
    -> (Σ w·CE, Σ w, final_state). No gradient is formed."""
    transition = exact_transition(model)

    def forward(params, structure, state, window):
        _, (final, loss_sum, count) = window_loss(model, transition, params, structure, state, window)
        return loss_sum, count, final

    return forward


def batched(step_one):
    """Lift a per-example transition step_one(cell_params, s [C,k], x) to a batch."""
    return jax.vmap(step_one, in_axes=(None, 0, 0))


def zeros_like_tree(tree):
    return jax.tree.map(jnp.zeros_like, tree)


def no_tables(structure):
    """The static tables of a method that needs none."""
    return ()


def backward_method(model, transition, method_id: MethodId) -> Method:
    """A method that differentiates the unrolled window through `transition` (BPTT, or BPTT through
    the diagonal-cut graph for offline SnAp-1): no traces, the state is the whole carry."""

    def init(params, structure, tables, batch_size, key):
        return Carry(state=zero_state(model, batch_size), traces=NoTraces(), key=key)

    def step(params, structure, tables, carry, window):
        loss, grads, final, stats = window_grad(model, transition, params, structure, carry.state, window)
        return loss, grads, Carry(final, carry.traces, carry.key), stats

    return Method(id=method_id, prepare=no_tables, init=init, step=step, forward=exact_forward(model),
                  cost=lambda batch: costs.cost(method_id, model, batch))
