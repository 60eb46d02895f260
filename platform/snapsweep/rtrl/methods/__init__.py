"""`make_method`: one entry point from (model, name, n, mode) to a `Method`.

Every method has the same contract (types.Method), so the trainer never branches on it.
"""

from __future__ import annotations

from snapsweep.errors import ConfigError
from snapsweep.rtrl.budget import check_budget
from snapsweep.rtrl.methods import bptt, exact_rtrl, snap1_cut, snap1_traces, snapn, uoro
from snapsweep.rtrl.methods.forward import make_forward_method

METHODS = ("bptt", "rtrl", "snap", "uoro", "snap-numeric")
MODES = ("offline", "online")
FORMS = ("cut", "traces")


def make_method(model, name: str, n: int = 1, mode: str = "offline", *, form: str | None = None,
                budget_bytes: int | None = None):
    """Build a gradient method.

    name: one of METHODS. "snap-numeric" is the paper's Appendix-D variant (mask |I_t| > 0 evaluated
    at run time, dense J): a reference, not SnAp. n: SnAp order (snap only). mode: "offline" (one
    update per window, J_0 = 0 at the window start) or "online" (traces carried between calls).
    form: offline SnAp-1 only: "cut" (diagonal-cut BPTT, the default, same gradient at BPTT cost)
    or "traces" (forward traces). budget_bytes: per-example trace budget (budget.TRACE_BUDGET_BYTES).
    """
    where = "method"
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}", where=where, fix=f"use one of {', '.join(METHODS)}")
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}", where=where, fix="use 'offline' or 'online'")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}", where=where, fix="use n: 1, 2 or 3")
    if name not in ("snap",) and n != 1:
        raise ConfigError(f"n applies to snap only (got n={n} with {name})", where=where, fix="drop n or set n: 1")
    if form is not None and (name != "snap" or n != 1 or form not in FORMS):
        raise ConfigError(f"form {form!r} does not apply to {name} n={n}", where=where,
                          fix="form is 'cut' or 'traces', for snap with n: 1 only")
    online = mode == "online"

    if name == "bptt":
        if online:
            raise ConfigError("BPTT updates once per window; use mode: offline", where=where,
                              fix="set mode: offline, or pick an online method (snap, rtrl, uoro)")
        return bptt.make(model)
    if name == "snap" and n == 1:
        chosen = form or ("traces" if online or model.input_kind == "embed" else "cut")
        if chosen == "cut":
            if online:
                raise ConfigError("the diagonal-cut form of SnAp-1 is offline only", where=where,
                                  fix="use form: traces for mode: online")
            if model.input_kind == "embed":
                raise ConfigError("the diagonal-cut form would give the embedding a multi-step gradient",
                                  where=where, fix="use form: traces with input_kind: embed")
            return snap1_cut.make(model)
        return make_forward_method(model, snap1_traces.make_rule(model), online, "snap")
    if name == "snap":
        rule = snapn.make_rule(model, n)
    elif name == "rtrl":
        rule = exact_rtrl.make_rule(model)
    elif name == "snap-numeric":
        rule = exact_rtrl.make_rule(model, numeric_mask=True)
    else:
        rule = uoro.make_rule(model)
    check_budget(model, rule.name, rule.numbers(model), budget_bytes)
    return make_forward_method(model, rule, online, name)


__all__ = ["FORMS", "METHODS", "MODES", "make_method"]
