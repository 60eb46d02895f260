"""`bench_pack`: aggregate throughput of packs of 1, 4, 12, ... members (`snapsweep bench --pack`).

Members of a pack differ only in seed and learning rate, so they share shapes and run as one vmapped
program; on an accelerator that keeps it busy (DESIGN.md §4). For each pack size this times the
trainer's own compiled chunk of updates (after a warm-up run of it) and reports the tokens per
second of all members together and its ratio to the single-member rate, i.e. the speedup over
running the members one after another.

Two ways to say what to measure: a resolved `TrainConfig` (its task, model, method, optimizer), or
sizes like the method benchmark (`cell`, `hiddens`, `batch`, `length`, `methods`), which build
character-LM configs on random bytes so no data set is needed on a bare accelerator machine.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable, Optional, Sequence

import jax
import numpy as np

from snapsweep import rtrl
from snapsweep.errors import BudgetError, ConfigError
from snapsweep.tasks import TextData, TextTask
from snapsweep.train.config import (
    Member,
    MethodConfig,
    OptimConfig,
    ScheduleConfig,
    TextTaskConfig,
    TrainConfig,
)
from snapsweep.train.loop import Trainer
from snapsweep.train.state import counter_value

# Method names as `snapsweep bench` spells them (rtrl names work too: "snap" is SnAp-1).
BENCH_METHODS = {
    "bptt": ("bptt", 1, "offline"),
    "snap1": ("snap", 1, "offline"),
    "snap1-online": ("snap", 1, "online"),
    "snap2": ("snap", 2, "offline"),
    "snap2-online": ("snap", 2, "online"),
    "snap3": ("snap", 3, "offline"),
    "rtrl": ("rtrl", 1, "offline"),
    "rtrl-online": ("rtrl", 1, "online"),
    "uoro": ("uoro", 1, "offline"),
    "uoro-online": ("uoro", 1, "online"),
}
_RANDOM_TEXT_BYTES = 1 << 20


def bench_pack(
    config: Optional[TrainConfig] = None,
    pack_sizes: Sequence[int] = (1, 4, 12),
    *,
    cell: str = "gru",
    hiddens: Sequence[int] = (128,),
    batch: int = 16,
    length: int = 128,
    methods: Sequence[str] = ("bptt",),
    density: float = 1.0,
    steps: Optional[int] = None,
    repeats: int = 3,
    lr: float = 1e-3,
    seed: int = 0,
    progress: Optional[Callable[[str], None]] = None,
) -> list:
    """-> one row per (method, k, pack size): kind "pack", method, units, batch, length, pack, steps,
    seconds (median of `repeats`), tokens_per_s (aggregate), tokens_per_s_per_member, speedup
    (aggregate / pack-of-1 aggregate; None without a pack of 1), trace_bytes (per member), device.
    A method the trainer cannot run (a benchmark-only variant, or over the trace budget) gets one
    row with "skipped": the reason, so the other measurements still come back.

    `steps`: updates per timed run; by default 4 windows' worth of tokens per member (4 updates
    offline, 4 * window length online)."""
    sizes = list(pack_sizes)
    if not sizes or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in sizes):
        raise ConfigError(f"pack sizes must be positive integers, got {sizes!r}", where="--pack",
                          fix="e.g. --pack 1,4,12")
    if repeats < 1 or (steps is not None and steps < 1):
        raise ConfigError("steps and repeats must be >= 1", where="bench", fix="e.g. --repeats 3")
    if config is not None:
        name = config.method.name if config.method.n == 1 else f"{config.method.name}{config.method.n}"
        return _bench_config(name, config, sizes, None, steps, repeats, lr, seed, progress)
    rows = []
    for k in hiddens:
        for name in methods:
            if name not in BENCH_METHODS:  # e.g. snap1-traces, appendix-d: method-benchmark variants only
                rows.append({"kind": "pack", "method": name, "units": k, "batch": batch, "length": length,
                             "skipped": f"not a trainer method (pack benchmark methods: {', '.join(BENCH_METHODS)})"})
                continue
            try:
                rows += _bench_config(name, _sized_config(cell, k, batch, length, name, density), sizes, "random",
                                      steps, repeats, lr, seed, progress)
            except BudgetError as err:  # exact RTRL at a large k, say: report it, measure the rest
                rows.append({"kind": "pack", "method": name, "units": k, "batch": batch, "length": length,
                             "skipped": err.one_line()})
    return rows


def _sized_config(cell, hidden, batch, length, name, density) -> TrainConfig:
    method, n, mode = BENCH_METHODS[name]
    model = rtrl.ModelConfig(cell=cell, hidden=hidden, vocab_in=256, vocab_out=256, density=density,
                             size_rule="match", shared_masks=True, mask_inputs=False, input_kind="onehot",
                             embed_dim=0, dtype="float32")
    task = TextTaskConfig(kind="wikitext", source="hub", data_dir=None, hub_path="(random bytes)", hub_name="bench",
                          crop=length, batch=batch, holdout_fraction=0.1, valid_chars=None, valid_batch=1)
    return TrainConfig(task=task, model=model, method=MethodConfig(name=method, n=n, mode=mode),
                       optim=OptimConfig(name="adam", b1=0.9, b2=0.999, eps=1e-8, clip_norm=1.0),
                       schedule=ScheduleConfig(steps=1, log_every=1, eval_every=0, probe_every=0, checkpoint_every=0))


def _bench_config(name, config, sizes, data, steps, repeats, lr, seed, progress) -> list:
    # One long chunk: no log, evaluation or probe boundary inside the timed region.
    config = dataclasses.replace(config, schedule=ScheduleConfig(
        steps=10**9, log_every=10**9, eval_every=0, probe_every=0, checkpoint_every=0))
    task = None
    if data == "random":  # no data set needed: random bytes have the LM's shapes and costs
        rng = np.random.default_rng(0)
        text = rng.integers(0, 256, _RANDOM_TEXT_BYTES, dtype=np.uint8)
        task = TextTask(config.task, TextData(train=text, valid=text[:1024], origin="random bytes"))
    device = jax.devices()[0]
    rows = []
    for p in sizes:
        trainer = Trainer(config, [Member(seed=seed + i, lr=lr) for i in range(p)], task=task)
        task = trainer.task  # read the text once for every pack size
        if steps is None:  # 4 windows' worth of tokens per member
            steps = 4 * (trainer.task.offline_steps if config.method.mode == "online" else 1)
        state = trainer.init()
        chunk = trainer._compiled_chunk(state)
        state = jax.block_until_ready(chunk(state, trainer.data, np.int32(steps)))  # warm-up
        times, tokens = [], 0.0
        for _ in range(repeats):
            before = counter_value(state.tokens).sum()
            start = time.perf_counter()
            state = jax.block_until_ready(chunk(state, trainer.data, np.int32(steps)))
            times.append(time.perf_counter() - start)
            tokens = float(counter_value(state.tokens).sum() - before)
        seconds = statistics.median(times)
        row = {
            "kind": "pack",
            "method": name,
            "units": config.model.units,
            "batch": config.task.batch,
            "length": getattr(config.task, "crop", None),
            "pack": p,
            "steps": steps,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            "tokens_per_s_per_member": tokens / seconds / p,
            "trace_bytes": trainer.trace_bytes,
            "device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        }
        rows.append(row)
        if progress is not None:
            progress(f"pack {p:>3} {name} k={row['units']}: {row['tokens_per_s']:,.0f} tokens/s aggregate")
    base = next((r["tokens_per_s"] for r in rows if r["pack"] == 1), None)
    for r in rows:
        r["speedup"] = r["tokens_per_s"] / base if base else None
    return rows
