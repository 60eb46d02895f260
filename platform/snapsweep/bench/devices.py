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


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 5, passes: int = 4) -> float:
    """Bytes per second of a plain device copy (read + write counted), buffer updated in place.

    In place as the traces are (a scan carry): a fresh output buffer per call would time the
    allocator's first touch of new pages on a CPU, not the memory."""
    x = jnp.ones((nbytes // 4,), jnp.float32)
    copy = jax.jit(lambda a: jax.lax.fori_loop(0, passes, lambda i, b: b + 1.0, a), donate_argnums=0)
    x = copy(x).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = copy(x).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes * passes / best


def matmul_rate(n: int = 512, repeats: int = 5) -> float:
    """FLOP per second of a square float32 matrix product (2 n^3 FLOPs)."""
    a = jnp.ones((n, n), jnp.float32) / n
    product = jax.jit(lambda m: m @ m)
    product(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        product(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best
