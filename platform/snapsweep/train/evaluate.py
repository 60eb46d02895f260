"""Validation bits per character for the character LM: a forward pass over fixed streams.

The validation windows (tasks.text.validation_windows) are read in order with the recurrent state
carried from window to window, starting from zeros; no parameter changes, no randomness, so the
result is a deterministic function of the parameters.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from snapsweep import rtrl

LN2 = math.log(2.0)


def make_evaluate(model: rtrl.ModelConfig, streams: int):
    """-> evaluate(params, structure, windows) -> bpc for ONE member.

    `windows` is an rtrl.Window whose leaves have a leading window axis: [n, T, streams].
    """
    bptt = rtrl.make_method(model, "bptt", 1, "offline")

    def evaluate(params, structure, windows):
        state0 = bptt.init(params, structure, streams, jax.random.PRNGKey(0)).state

        def body(state, window):
            # Only the loss and the final state are used, so under jit XLA drops the backward pass
            # (the rtrl contract has no forward-only call).
            loss, _, final = rtrl.bptt_window_grad(model, params, structure, state, window)
            return final, (loss * streams, jnp.sum(window.weight))

        _, (loss_sum, count) = jax.lax.scan(body, state0, windows)
        return (jnp.sum(loss_sum) / jnp.maximum(jnp.sum(count), 1) / LN2).astype(jnp.float32)

    return evaluate
