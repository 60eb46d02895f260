"""Validation bits per character for the character LM: a forward pass over fixed streams.

The validation windows (tasks.text.validation_windows) are read in order with the recurrent state
carried from window to window, starting from zeros; no parameter changes, no randomness, so the
result is a deterministic function of the parameters. Only the method's forward pass runs (every
method shares it: they differ in their gradients), so no gradient is formed.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from snapsweep import rtrl

LN2 = math.log(2.0)


def make_evaluate(model: rtrl.ModelConfig, method: rtrl.Method, streams: int):
    """-> evaluate(params, structure, windows) -> bpc for ONE member.

    `windows` is an rtrl.Window whose leaves have a leading window axis: [n, T, streams].
    """

    def evaluate(params, structure, windows):
        def body(state, window):
            loss_sum, count, final = method.forward(params, structure, state, window)
            return final, (loss_sum, count)

        _, (loss_sum, count) = jax.lax.scan(body, rtrl.zero_state(model, streams), windows)
        return (jnp.sum(loss_sum) / jnp.maximum(jnp.sum(count), 1) / LN2).astype(jnp.float32)

    return evaluate
