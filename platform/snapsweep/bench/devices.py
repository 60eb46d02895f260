"""What the device can tell us: kind, peak memory, and a plain-copy bandwidth to compare against."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp


def device_kind() -> str:
    return jax.devices()[0].device_kind


def on_cpu() -> bool:
    return jax.devices()[0].platform == "cpu"


def peak_bytes() -> int | None:
    """Peak bytes in use on the device since the process started, where the backend reports it."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # backends without memory stats raise or return None
        return None
    if not stats:
        return None
    return stats.get("peak_bytes_in_use")


def executable_bytes(compiled) -> int | None:
    """Bytes XLA's buffer assignment gives one call of a compiled executable (jitted.lower(...).compile()):
    arguments + outputs + temporaries - aliases. Static, so it is available on the CPU too."""
    try:
        analysis = compiled.memory_analysis()
    except Exception:
        return None
    if analysis is None:
        return None
    return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes
               - analysis.alias_size_in_bytes)


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 5) -> float:
    """Bytes per second of a plain device copy (read + write counted)."""
    x = jnp.ones((nbytes // 4,), jnp.float32)
    copy = jax.jit(lambda a: a + 0.0)
    copy(x).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        copy(x).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes / best
