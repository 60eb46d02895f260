"""`make_method`: one entry point from (model, MethodId) to a `Method` (rtrl.types).

Every method has the same contract, so the trainer never branches on it. Which (family, n, mode,
form) combinations exist is the registry's to say (rtrl.registry); what a method costs is
rtrl.costs'; this module only picks the implementation.
"""

from __future__ import annotations

from typing import Optional, Union

from snapsweep.errors import ConfigError
from snapsweep.rtrl import registry
from snapsweep.rtrl.costs import check_budget
from snapsweep.rtrl.methods import bptt, exact_rtrl, snap1_cut, snap1_traces, snapn, uoro
from snapsweep.rtrl.methods.forward import make_forward_method
from snapsweep.rtrl.registry import MethodId
from snapsweep.rtrl.types import Method


def make_method(model, method_id: Union[MethodId, str], *, budget_bytes: Optional[int] = None) -> Method:
    """Build a gradient method.

    method_id: a `registry.MethodId` (a canonical name such as "snap2-online" is parsed too).
    Offline mode is one update per window with J_0 = 0 at the window start; online mode carries the
    traces between calls. Offline SnAp-1 comes in two forms with the same gradient: "cut" (BPTT
    through the diagonal-cut graph, the default, no traces) and "traces" (forward traces).
    "snap-numeric" is the paper's Appendix-D variant (mask |I_t| > 0 at run time, dense J): a
    reference, not SnAp. budget_bytes: per-example trace budget (costs.TRACE_BUDGET_BYTES if None);
    a method over it raises BudgetError.
    """
    if isinstance(method_id, str):
        method_id = registry.parse(method_id)
    # Re-validated here: a MethodId built directly (not through the registry) may be impossible.
    method_id = registry.make_id(method_id.family, method_id.n, method_id.mode, method_id.form)
    if method_id.resolved_form == "cut" and model.input_kind == "embed":
        raise ConfigError("the diagonal-cut form of SnAp-1 would give the embedding a multi-step gradient",
                          where="method", fix="use snap1-traces-offline with input_kind: embed")
    check_budget(method_id, model, budget_bytes)
    family, n = method_id.family, method_id.n
    if family == "bptt":
        return bptt.make(model, method_id)
    if method_id.resolved_form == "cut":
        return snap1_cut.make(model, method_id)
    if family == "snap" and n == 1:
        rule = snap1_traces.make_rule(model)
    elif family == "snap":
        rule = snapn.make_rule(model, n)
    elif family == "rtrl":
        rule = exact_rtrl.make_rule(model)
    elif family == "snap-numeric":
        rule = exact_rtrl.make_rule(model, numeric_mask=True)
    elif family == "uoro":
        rule = uoro.make_rule(model)
    else:
        raise ValueError(f"{method_id.name} is in the registry but has no implementation")
    return make_forward_method(model, rule, method_id)


__all__ = ["make_method"]
