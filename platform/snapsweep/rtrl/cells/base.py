"""What a cell is: ONE time step, with every cross-unit coupling routed through `matvec`.

State layout: a cell's state is an array [C, k] per example: C = 1 channel (h) for the GRU and the
tanh RNN, C = 2 channels (h, c) for the LSTM. Parameter layout: every cell parameter has the unit
(row) axis at position 1: W [G, k, n_in], U [G, k, k], b [G, k] for G gates, so a parameter
`leaf[g, i, ...]` drives only unit i within one step. SnAp-1 relies on that: its kept entries
are exactly I_t there.

`matvec(U, h) -> [G, k]` is the recurrent product U_g h for all gates at once. Swapping it is how
methods get Jacobian pieces without ever forming a k x k Jacobian (see `matvec.py`). `drive(W, x)`
is the input product W_g x; methods swap it to read the immediate Jacobian's per-unit coefficients
(see `immediate.py`). Masks are applied to the parameters before a cell sees them (model.apply_masks).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class Cell(NamedTuple):
    name: str
    gates: int  # G
    channels: int  # C: 1 (h) or 2 (h, c)
    # step(params, state [C,k], x (int token or [n_in] vector), matvec, drive=input_drive) -> new state [C,k]
    step: Callable
    # init_bias(k, dtype) -> b [G, k]
    init_bias: Callable
    # Structural pattern of one step, used for SnAp-n's mask M_n (neighbourhoods.py):
    # gate_channels[g][c]: gate g's parameters of unit i drive channel c of unit i;
    # own_channels[co][ci]: channel co of unit i depends on channel ci of unit i other than via U;
    # matvec_channels[g][c]: channel c of unit i reads (U_g h)_i, i.e. depends on h_j where U_g keeps (i, j).
    gate_channels: tuple
    own_channels: tuple
    matvec_channels: tuple


def input_drive(W: jax.Array, x: jax.Array) -> jax.Array:
    """W_g x for all gates: [G, k]. An integer x is a one-hot token, so this is a column gather."""
    if jnp.issubdtype(x.dtype, jnp.integer):
        return W[:, :, x]
    return jnp.einsum("gin,n->gi", W, x)
