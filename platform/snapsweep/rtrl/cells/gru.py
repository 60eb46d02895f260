"""GRU, reset-after-matmul form (cuDNN / Engel): r multiplies U_a h, not h.

z = s(W_z x + U_z h + b_z), r = s(W_r x + U_r h + b_r), a = tanh(W_a x + r * (U_a h) + b_a),
h' = (1 - z) * h + z * a. In this form every parameter of row i drives only unit i in one step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.cells.base import Cell, input_drive


def step(params, state, x, matvec, drive=input_drive):
    h = state[0]
    pre = drive(params["W"], x) + params["b"]
    rec = matvec(params["U"], h)
    z = jax.nn.sigmoid(pre[0] + rec[0])
    r = jax.nn.sigmoid(pre[1] + rec[1])
    a = jnp.tanh(pre[2] + r * rec[2])
    return ((1 - z) * h + z * a)[None]


def init_bias(k, dtype):
    return jnp.zeros((3, k), dtype)


GRU = Cell(name="gru", gates=3, channels=1, step=step, init_bias=init_bias,
           gate_channels=((1,), (1,), (1,)), own_channels=((1,),), matvec_channels=((1,), (1,), (1,)))
