"""Benchmarks of the trainer's update per gradient method: throughput, memory, bandwidth floor, packs.

Imports only jax, optax, numpy and snapsweep's rtrl, tasks and train layers (no Pydantic), so it runs
on a bare accelerator machine. Methods are named as everywhere else (rtrl.registry).
"""

from snapsweep.bench.check import check, format_check
from snapsweep.bench.pack import bench_pack
from snapsweep.bench.run import bench
from snapsweep.bench.table import format_table

__all__ = ["bench", "bench_pack", "check", "format_check", "format_table"]
