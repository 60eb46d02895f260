"""Benchmarks of the gradient methods: throughput of one full update, memory, bandwidth floor.

Imports only jax, optax, numpy and snapsweep.rtrl, so it runs on a bare accelerator machine.
"""

from snapsweep.bench.run import bench
from snapsweep.bench.table import format_table
from snapsweep.bench.variants import VARIANTS

METHODS = tuple(VARIANTS)

__all__ = ["METHODS", "VARIANTS", "bench", "format_table"]
