"""LSTM without peepholes; state [h; c] as channels (0: h, 1: c). Gates i, f, g, o.

c' = s(f) * c + s(i) * tanh(g), h' = s(o) * tanh(c'). A parameter of unit i drives c_i and h_i,
so SnAp-1 keeps a 2-vector per parameter and uses the 2x2 block of D for unit i.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.cells.base import Cell, input_drive


def step(params, state, x, matvec, drive=input_drive):
    h, c = state[0], state[1]
    pre = drive(params["W"], x) + params["b"] + matvec(params["U"], h)
    c_new = jax.nn.sigmoid(pre[1]) * c + jax.nn.sigmoid(pre[0]) * jnp.tanh(pre[2])
    h_new = jax.nn.sigmoid(pre[3]) * jnp.tanh(c_new)
    return jnp.stack([h_new, c_new])


# The output gate o (its parameters and its U_o h) drives only h within a step; h' reads its own c,
# but its own h only through a kept diagonal of U; c' reads its own c.

def init_bias(k, dtype):
    # Forget-gate bias 1: the usual choice so that memory is kept early in training.
    return jnp.zeros((4, k), dtype).at[1].set(1)


LSTM = Cell(name="lstm", gates=4, channels=2, step=step, init_bias=init_bias,
            gate_channels=((1, 1), (1, 1), (1, 1), (1, 0)), own_channels=((0, 1), (0, 1)),
            matvec_channels=((1, 1), (1, 1), (1, 1), (1, 0)))
