"""`bench_pack`: aggregate throughput of packs of 1, 4, 12, ... members (`snapsweep bench --pack`).

Members of a pack differ only in seed and learning rate, so they share shapes and run as one vmapped
program; on an accelerator that keeps it busy where one member alone would not. For each pack size
this times the trainer's own compiled chunk of updates (after a warm-up run of it) and reports the
tokens per second of all members together and its ratio to the single-member rate, i.e. the speedup
over running the members one after another.

Two ways to say what to measure: a resolved `TrainConfig` (its task, model, method, optimizer,
trace budget), or sizes like the method benchmark (`cell`, `hiddens`, `batch`, `length`, `methods`
as registry names), which build the spec's default model on random bytes (bench/workload.py).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax

from snapsweep.errors import BudgetError, ConfigError
from snapsweep.tasks import make_task
from snapsweep.train.config import TrainConfig
from snapsweep.train.programs import Program
from snapsweep.bench.run import method_ids
from snapsweep.bench.workload import OPTIM_DEFAULTS, compile_pack, sized_program, time_pack, updates_per_window


def bench_pack(
    config: Optional[TrainConfig] = None,
    pack_sizes: Sequence[int] = (1, 4, 12),
    *,
    cell: str = "gru",
    hiddens: Sequence[int] = (128,),
    batch: int = 16,
    length: int = 128,
    methods: Sequence[str] = ("bptt-offline",),
    density: float = 1.0,
    steps: Optional[int] = None,
    repeats: int = 3,
    lr: float = OPTIM_DEFAULTS["lr"],
    seed: int = 0,
    progress: Optional[Callable[[str], None]] = None,
) -> list:
    """-> one row per (method, k, pack size): kind "pack", method (canonical name), units, batch,
    length, pack, steps, seconds (median of `repeats`), tokens_per_s (aggregate),
    tokens_per_s_per_member, speedup (aggregate / pack-of-1 aggregate; None without a pack of 1),
    trace_bytes (per member), device. A method over the trace budget gets one row with "skipped":
    the reason, so the other measurements still come back.

    `steps`: updates per timed run; by default 4 windows' worth of tokens per member (4 updates
    offline, 4 * window length online)."""
    sizes = list(pack_sizes)
    if not sizes or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in sizes):
        raise ConfigError(f"pack sizes must be positive integers, got {sizes!r}", where="--pack",
                          fix="e.g. --pack 1,4,12")
    if repeats < 1 or (steps is not None and steps < 1):
        raise ConfigError("steps and repeats must be >= 1", where="bench", fix="e.g. --repeats 3")
    if config is not None:
        return _bench_program(Program.of(config, make_task(config.task)), sizes, steps, repeats, lr, seed, progress)
    ids = method_ids(methods)
    rows, task = [], None
    for k in hiddens:
        for method_id in ids:
            try:
                program = sized_program(cell, k, batch, length, method_id, density, task)
            except BudgetError as err:  # exact RTRL at a large k, say: report it, measure the rest
                rows.append({"kind": "pack", "method": method_id.name, "units": k, "batch": batch,
                             "length": length, "skipped": err.one_line()})
                continue
            task = program.task
            rows += _bench_program(program, sizes, steps, repeats, lr, seed, progress)
    return rows


def _bench_program(program: Program, sizes, steps, repeats, lr, seed, progress) -> list:
    device = jax.devices()[0]
    steps = steps if steps is not None else 4 * updates_per_window(program)  # 4 windows per member
    trace_bytes = program.make_method().cost(program.task.batch).trace_bytes
    name = program.method.name
    rows = []
    for p in sizes:
        seconds, tokens, _ = time_pack(compile_pack(program, p, lr, seed), steps, repeats)
        row = {
            "kind": "pack",
            "method": name,
            "units": program.model.units,
            "batch": program.task.batch,
            "length": getattr(program.task.config, "crop", None),
            "pack": p,
            "steps": steps,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            "tokens_per_s_per_member": tokens / seconds / p,
            "trace_bytes": trace_bytes,
            "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        }
        rows.append(row)
        if progress is not None:
            progress(f"pack {p:>3} {name} k={row['units']}: {row['tokens_per_s']:,.0f} tokens/s aggregate")
    base = next((r["tokens_per_s"] for r in rows if r["pack"] == 1), None)
    for r in rows:
        r["speedup"] = r["tokens_per_s"] / base if base else None
    return rows
