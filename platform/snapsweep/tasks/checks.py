"""Checks of single resolved settings, each raising one typed `ConfigError` line (where, what, fix).

Pure Python. The task configs check their own fields with these (tasks/config.py), and the trainer
checks the rest of its settings with the same ones (train/validate.py), so every refusal reads alike.
"""

from __future__ import annotations

import math

from snapsweep.errors import ConfigError


def require_int(value, name: str, low: int, fix: str) -> None:
    """An integer (not a bool) of at least `low`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}", where=name, fix=fix)


def require_real(value, name: str, fix: str, low=None, high=None, open_low=True, open_high=True) -> None:
    """A finite number, inside (low, high) with each end open or closed as asked."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value < high if open_high else value <= high
    if not ok:
        lo = "" if low is None else ("(" if open_low else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if open_high else "]")
        span = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (low is not None or high is not None) else " finite"
        raise ConfigError(f"{name} must be a number{span}, got {value!r}", where=name, fix=fix)


def require_choice(value, name: str, choices: tuple, what: str) -> None:
    """One of `choices`; `what` names the kind of value in the message (task, data source, ...)."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}", where=name, fix=f"use one of {', '.join(map(repr, choices))}")
