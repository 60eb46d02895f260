"""`bench`: tokens per second of one full update for each method and size, plus memory flatness."""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from snapsweep.errors import BudgetError, ConfigError
from snapsweep.rtrl import ModelConfig, Window, init_model, make_method
from snapsweep.rtrl.budget import cell_param_count
from snapsweep.bench import devices
from snapsweep.bench.updates import make_update
from snapsweep.bench.variants import variant

VOCAB = 256
# Methods whose per-step cost grows like k^3 or worse are skipped above this estimate of trace
# FLOPs per update (they would run for minutes per update on a CPU).
MAX_TRACE_FLOP = {"cpu": 2e11, "other": 2e14}
FLATNESS_METHODS = ("bptt", "snap1", "snap1-online")


def model_config(cell: str, hidden: int, density: float) -> ModelConfig:
    return ModelConfig(cell=cell, hidden=hidden, vocab_in=VOCAB, vocab_out=VOCAB, density=density,
                       size_rule="match", shared_masks=True, mask_inputs=False, input_kind="onehot",
                       embed_dim=0, dtype="float32")


def random_window(key, length: int, batch: int) -> Window:
    kx, ky = jax.random.split(key)
    return Window(x=jax.random.randint(kx, (length, batch), 0, VOCAB, jnp.int32),
                  y=jax.random.randint(ky, (length, batch), 0, VOCAB, jnp.int32),
                  weight=jnp.ones((length, batch), jnp.float32),
                  reset=jnp.zeros((length, batch), bool))


def trace_flop_per_update(model: ModelConfig, name: str, batch: int, length: int, numbers: int) -> float:
    """Rough multiply-adds of the trace update (the part that can be prohibitive), per update."""
    k, p = model.units, cell_param_count(model)
    if name in ("rtrl", "appendix-d"):
        return 2.0 * batch * length * numbers * k * (2 if model.cell == "lstm" else 1)
    if name in ("snap2", "snap3"):
        return 2.0 * batch * length * numbers * (numbers / max(p, 1))
    return 2.0 * batch * length * numbers


def _build(model, name, batch, length, key):
    """-> (variant, method, jitted update, args)."""
    var = variant(name)
    method = make_method(model, var.method, n=var.n, mode=var.mode, form=var.form)
    params, structure = init_model(model, key)
    opt, update = make_update(method, var.mode == "online")
    carry = method.init(params, structure, batch, key)
    window = random_window(key, length, batch)
    args = (params, opt.init(params), structure, carry, window)
    # Donating params, optimizer state and carry lets XLA update traces in place (not on CPU).
    donate = () if devices.on_cpu() else (0, 1, 3)
    return var, method, jax.jit(update, donate_argnums=donate), args


def _compile(jitted, args):
    """Compile once, ahead of time: the same executable gives the memory analysis and the timings
    (calling the jitted function after .lower().compile() would compile it a second time)."""
    return jitted.lower(*args).compile()


def _time(jitted, args, repeats):
    params, opt_state, structure, carry, window = args
    params, opt_state, carry, loss = jitted(params, opt_state, structure, carry, window)
    jax.block_until_ready(loss)  # compile + first run, not timed
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        params, opt_state, carry, loss = jitted(params, opt_state, structure, carry, window)
        jax.block_until_ready((params, loss))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(cell: str, hiddens: list[int], batch: int, length: int, methods: list[str], density: float = 1.0,
          repeats: int = 3, lengths_for_memory: tuple | None = (128, 4096), progress=None) -> list[dict]:
    """Measure every (hidden, method); rows for skipped combinations carry `skipped` with the reason.

    Throughput rows: method, hidden, units, batch, length, tokens_per_s, ratio_to_bptt, peak_device_bytes,
    compiled_bytes, trace_bytes_per_step, bandwidth_floor_fraction, device, skipped.
    Memory-flatness rows (kind "memory"): SnAp-1 offline/online and BPTT compiled at each length in
    `lengths_for_memory`, with compiled_bytes (and peak_device_bytes where the device reports it).
    """
    for name in methods:
        variant(name)  # typed error for unknown names before anything runs
    say = progress or (lambda message: None)
    kind = devices.device_kind()
    cpu = devices.on_cpu()
    bandwidth = None if cpu else devices.copy_bandwidth()
    flop_limit = MAX_TRACE_FLOP["cpu" if cpu else "other"]
    key = jax.random.key(0)
    rows: list[dict] = []
    for hidden in hiddens:
        model = model_config(cell, hidden, density)
        bptt_tps = None
        ordered = sorted(methods, key=lambda m: m != "bptt")  # BPTT first: the ratio's reference
        for name in ordered:
            row = {"kind": "throughput", "method": name, "cell": cell, "hidden": hidden, "units": model.units,
                   "density": density, "batch": batch, "length": length, "tokens_per_s": None,
                   "ratio_to_bptt": None, "peak_device_bytes": None, "compiled_bytes": None,
                   "trace_bytes_per_step": None, "bandwidth_floor_fraction": None, "device": kind,
                   "skipped": None}
            try:
                var, method, jitted, args = _build(model, name, batch, length, key)
            except (BudgetError, ConfigError) as err:
                row["skipped"] = err.one_line()
                rows.append(row)
                say(f"{name} k={model.units}: skipped ({row['skipped']})")
                continue
            numbers = method.trace_numbers(model)
            itemsize = np.dtype(model.dtype).itemsize
            row["trace_bytes_per_step"] = batch * numbers * itemsize if var.traced else 0
            if var.traced and trace_flop_per_update(model, name, batch, length, numbers) > flop_limit:
                row["skipped"] = f"estimated trace work too large for this device (limit {flop_limit:.0e} FLOP)"
                rows.append(row)
                say(f"{name} k={model.units}: skipped (too slow here)")
                continue
            say(f"{name} k={model.units}: compiling and timing")
            jitted = _compile(jitted, args)
            row["compiled_bytes"] = devices.executable_bytes(jitted)
            seconds = _time(jitted, args, repeats)
            row["tokens_per_s"] = batch * length / seconds
            row["peak_device_bytes"] = devices.peak_bytes()
            if name == "bptt":
                bptt_tps = row["tokens_per_s"]
            if bptt_tps:
                row["ratio_to_bptt"] = row["tokens_per_s"] / bptt_tps
            if bandwidth and var.traced:
                # Floor: each step reads and writes every trace entry once.
                floor_tps = batch / (2 * row["trace_bytes_per_step"] / bandwidth)
                row["bandwidth_floor_fraction"] = row["tokens_per_s"] / floor_tps
            rows.append(row)
            say(f"{name} k={model.units}: {row['tokens_per_s']:.0f} tokens/s")
            del jitted, args
        if lengths_for_memory:
            rows.extend(memory_flatness(model, cell, hidden, batch, lengths_for_memory, kind, key, say))
    return rows


def memory_flatness(model, cell, hidden, batch, lengths, kind, key, say) -> list[dict]:
    """Compiled memory of one update at each window length: flat for SnAp-1, linear in T for BPTT."""
    rows = []
    for name in FLATNESS_METHODS:
        for length in lengths:
            var, method, jitted, args = _build(model, name, batch, length, key)
            jitted = _compile(jitted, args)
            row = {"kind": "memory", "method": name, "cell": cell, "hidden": hidden, "units": model.units,
                   "batch": batch, "length": length, "compiled_bytes": devices.executable_bytes(jitted),
                   "peak_device_bytes": None, "device": kind}
            if not devices.on_cpu():
                _time(jitted, args, 1)
                row["peak_device_bytes"] = devices.peak_bytes()
            rows.append(row)
            say(f"memory {name} k={model.units} T={length}: {row['compiled_bytes']} compiled bytes")
    return rows
