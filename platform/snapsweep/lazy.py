"""Lazy package exports (PEP 562), so that importing a package loads none of its heavy modules.

`snapsweep.rtrl`, `snapsweep.tasks` and `snapsweep.train` re-export names from JAX-backed modules;
the spec layer and the CLI import their pure-Python parts (`rtrl.registry`, `rtrl.config`,
`tasks.config`, `train.config`) and must not pay for, or require, JAX.
"""

from __future__ import annotations

import importlib
from typing import Callable


def exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list]]:
    """-> (__getattr__, __dir__) for `package`. table: public name -> "module" or "module:attr"."""

    def getattr_(name: str):
        target = table.get(name)
        if target is None:
            try:  # a submodule, e.g. `rtrl.registry` after a bare `import snapsweep.rtrl`
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{package}.{name}":
                    raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module), attr or name)
        setattr(importlib.import_module(package), name, value)  # later lookups skip __getattr__
        return value

    def dir_() -> list:
        return sorted(set(vars(importlib.import_module(package))) | set(table))

    return getattr_, dir_
