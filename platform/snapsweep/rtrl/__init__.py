"""Pure-JAX recurrent learning: cells, static sparsity masks and gradient methods.

BPTT, exact RTRL, SnAp-n (Menick et al. 2021) and UORO (Tallec & Ollivier 2017) behind one contract:

    params, structure = init_model(model, key)
    method = make_method(model, name, n=1, mode="offline")
    carry = method.init(params, structure, batch_size, key)
    loss, grads, carry, stats = method.step(params, structure, carry, window)

Imports only jax, optax, numpy and snapsweep.errors.
"""

from snapsweep.rtrl.budget import TRACE_BUDGET_BYTES, cell_param_count
from snapsweep.rtrl.config import ModelConfig
from snapsweep.rtrl.methods import METHODS, MODES, make_method
from snapsweep.rtrl.methods.bptt import bptt_window_grad
from snapsweep.rtrl.model import init_model
from snapsweep.rtrl.types import Carry, Method, Window

__all__ = [
    "METHODS",
    "MODES",
    "TRACE_BUDGET_BYTES",
    "Carry",
    "Method",
    "ModelConfig",
    "Window",
    "bptt_window_grad",
    "cell_param_count",
    "init_model",
    "make_method",
]
