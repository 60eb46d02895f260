"""Vanilla tanh RNN: h' = tanh(W x + U h + b). Mostly for tests: the smallest cell with a dense D."""

from __future__ import annotations

import jax.numpy as jnp

from snapsweep.rtrl.cells.base import Cell, input_drive


def step(params, state, x, matvec, drive=input_drive):
    h = state[0]
    pre = drive(params["W"], x) + params["b"] + matvec(params["U"], h)
    return jnp.tanh(pre[0])[None]


def init_bias(k, dtype):
    return jnp.zeros((1, k), dtype)


# h' reads its own h only through a kept diagonal of U.
RNN = Cell(name="rnn", gates=1, channels=1, step=step, init_bias=init_bias,
           gate_channels=((1,),), own_channels=((0,),), matvec_channels=((1,),))
