"""Pure-JAX recurrent learning: cells, static sparsity masks and gradient methods.

BPTT, exact RTRL, SnAp-n (Menick et al. 2021) and UORO (Tallec & Ollivier 2017) behind one contract:

    params, structure = init_model(model, key)
    method = make_method(model, registry.parse("snap2-online"))
    tables = method.prepare(structure)
    carry = method.init(params, structure, tables, batch_size, key)
    loss, grads, carry, stats = method.step(params, structure, tables, carry, window)

See rtrl/types.py for the whole contract, rtrl/registry.py for the method names, rtrl/costs.py for
what each method costs and rtrl/modes.py for the update modes.

The package imports lazily (PEP 562): `snapsweep.rtrl.registry` and `snapsweep.rtrl.config` are
pure Python, so the spec layer and the CLI can name methods and models where JAX is not installed;
the first use of anything JAX-backed imports it. Imports only jax, optax, numpy and snapsweep.errors.
"""

from __future__ import annotations

from snapsweep.lazy import exports

# public name -> module that defines it
_EXPORTS = {
    "TRACE_BUDGET_BYTES": "snapsweep.rtrl.costs",
    "Cost": "snapsweep.rtrl.costs",
    "cell_param_count": "snapsweep.rtrl.costs",
    "cost": "snapsweep.rtrl.costs",
    "ModelConfig": "snapsweep.rtrl.config",
    "make_method": "snapsweep.rtrl.methods",
    "bptt_window_grad": "snapsweep.rtrl.methods.bptt",
    "init_model": "snapsweep.rtrl.model",
    "zero_state": "snapsweep.rtrl.model",
    "UpdateMode": "snapsweep.rtrl.modes",
    "update_mode": "snapsweep.rtrl.modes",
    "Carry": "snapsweep.rtrl.types",
    "Method": "snapsweep.rtrl.types",
    "NoTraces": "snapsweep.rtrl.types",
    "Stats": "snapsweep.rtrl.types",
    "Window": "snapsweep.rtrl.types",
    "MethodId": "snapsweep.rtrl.registry",
    "parse_method": "snapsweep.rtrl.registry:parse",
}


__getattr__, __dir__ = exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
