"""Benchmark method names -> how to build them with `rtrl.make_method`."""

from __future__ import annotations

from typing import NamedTuple

from snapsweep.errors import ConfigError


class Variant(NamedTuple):
    name: str  # bench name
    method: str  # rtrl method name
    n: int
    mode: str
    form: str | None
    traced: bool  # keeps forward traces (has a bandwidth floor)


VARIANTS = {
    "bptt": Variant("bptt", "bptt", 1, "offline", None, False),
    "snap1": Variant("snap1", "snap", 1, "offline", "cut", False),
    "snap1-traces": Variant("snap1-traces", "snap", 1, "offline", "traces", True),
    "snap1-online": Variant("snap1-online", "snap", 1, "online", None, True),
    "snap2": Variant("snap2", "snap", 2, "offline", None, True),
    "snap3": Variant("snap3", "snap", 3, "offline", None, True),
    "rtrl": Variant("rtrl", "rtrl", 1, "offline", None, True),
    "uoro": Variant("uoro", "uoro", 1, "offline", None, True),
    # The paper's Appendix-D snippet: dense jacrev traces masked with |I_t| > 0. Small k only.
    "appendix-d": Variant("appendix-d", "snap-numeric", 1, "offline", None, True),
}


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ConfigError(f"unknown benchmark method {name!r}", where="bench",
                          fix=f"use one of {', '.join(VARIANTS)}")
    return VARIANTS[name]
