"""Sweeps on Ray Tune: one Tune trial per pack, each member tracked as its own MLflow run.

    result = sweep.run("sweeps/smoke.yaml")            # embedded: local Ray, sqlite MLflow
    print(sweep.plan("sweeps/smoke.yaml").table())     # trials, packs, finished, estimated time
    print(sweep.status("sweeps/smoke.yaml"))           # per-trial state from MLflow and checkpoints

Ray is imported only inside this package, and only by the modules that run trials, so importing
`snapsweep.sweep` (and planning or asking for status) does not start or even load Ray. The public
names below resolve lazily for the same reason.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module that defines it. No module is named like a function it exports: importing
# snapsweep.sweep.plan would rebind the package attribute `plan` to the module.
_EXPORTS = {
    "run": "runner",
    "SweepResult": "runner",
    "plan": "planning",
    "Plan": "planning",
    "status": "statuses",
    "status_json": "statuses",
    "report": "reporting",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from snapsweep.sweep.planning import Plan, plan
    from snapsweep.sweep.reporting import report
    from snapsweep.sweep.runner import SweepResult, run
    from snapsweep.sweep.statuses import status, status_json


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'snapsweep.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"snapsweep.sweep.{module}"), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
