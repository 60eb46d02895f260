"""What the device can tell us: kind, peak memory, and the rates the cost model prices work at.

`measure_rates` times three things once per run, for `rtrl.costs.Rates`: a plain in-place copy
(bytes/s), batched float32 products at several contracting dimensions (FLOP/s: the small per-unit
products of SnAp-n run far below the peak of a large one), and the per-kernel latency of a minimal
scanned step. `save_rates` writes them where `snapsweep plan` reads them.
"""

from __future__ import annotations

import datetime
import json
import os
import time

import jax
import jax.numpy as jnp

from snapsweep.rtrl.costs import Rates


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


def _best_seconds(fn, *args, repeats: int) -> float:
    """Fastest of `repeats` timed calls, after one that compiles."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


PRODUCT_DIMS = (8, 16, 32, 64, 128, 256, 512)
PRODUCT_COLUMNS = 1024  # of the right-hand side: a SnAp-n row of a few hundred parameters and up
PRODUCT_FLOPS = 64e6  # per timed call, split into as many products as it takes


def product_rate(inner: int, repeats: int = 3) -> float:
    """FLOP per second of a batch of [d x d] @ [d x 1024] float32 products, d = `inner`: the shape
    of SnAp-n's D_local J_v per unit and example (and, at d = C k, of RTRL's D J per example)."""
    count = max(1, round(PRODUCT_FLOPS / (2 * inner * inner * PRODUCT_COLUMNS)))
    a = jnp.ones((count, inner, inner), jnp.float32) / inner
    b = jnp.ones((count, inner, PRODUCT_COLUMNS), jnp.float32)
    product = jax.jit(lambda x, y: jnp.einsum("bij,bjr->bir", x, y))
    return 2 * count * inner * inner * PRODUCT_COLUMNS / _best_seconds(product, a, b, repeats=repeats)


def matmul_rate(n: int = 512, repeats: int = 5) -> float:
    """FLOP per second of a square float32 matrix product (2 n^3 FLOPs)."""
    a = jnp.ones((n, n), jnp.float32) / n
    return 2 * n ** 3 / _best_seconds(jax.jit(lambda m: m @ m), a, repeats=repeats)


def op_seconds(length: int = 2000, kernels: tuple = (2, 18), repeats: int = 5) -> float:
    """Seconds per kernel of a minimal scanned step: a scan whose body is a chain of tiny dependent
    products, timed at two chain lengths; the slope is the price of one more kernel in a step."""

    def scanned(q):
        w = jnp.eye(8, dtype=jnp.float32)

        def body(x, _):
            for _ in range(q):
                x = x @ w
            return x, None

        return jax.jit(lambda x: jax.lax.scan(body, x, None, length=length)[0])

    x = jnp.ones((4, 8), jnp.float32)
    few, many = (_best_seconds(scanned(q), x, repeats=repeats) for q in kernels)
    return max(many - few, 1e-12) / (length * (kernels[1] - kernels[0]))


def measure_rates() -> Rates:
    """The device's rates for rtrl.costs, measured now (a few seconds)."""
    return Rates(device=device_kind(), bandwidth=copy_bandwidth(), op_seconds=op_seconds(),
                 product_rates=tuple((d, product_rate(d)) for d in PRODUCT_DIMS),
                 measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


def save_rates(rates: Rates, path: str) -> None:
    """Write `rates` as JSON (atomically: a reader never sees half a file)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(rates.to_json(), handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)
