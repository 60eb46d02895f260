"""`bench`: tokens per second of the trainer's own update for each method and size, plus memory flatness.

Each measurement compiles `train.programs.run_chunk` for one member (bench/workload.py) and times
one window's worth of updates (one update offline, one per time step online). What a method costs
(its trace bytes, the bytes it moves per step, its FLOPs) comes from `rtrl.costs`, the same numbers
the trainer logs and `snapsweep plan` prices.
"""

from __future__ import annotations

from snapsweep.errors import BudgetError, ConfigError
from snapsweep.rtrl.costs import update_seconds
from snapsweep.rtrl.registry import parse
from snapsweep.bench import devices
from snapsweep.bench.workload import compile_pack, sized_program, time_pack, updates_per_window, windows_per_call

# Methods whose estimated work per update exceeds this many FLOPs are skipped (exact RTRL at a
# large k would run for minutes per update on a CPU).
MAX_FLOP_PER_UPDATE = {"cpu": 2e11, "other": 2e14}
FLATNESS_METHODS = ("bptt-offline", "snap1-offline", "snap1-online")
REFERENCE = parse("bptt-offline")  # what `ratio_to_bptt` divides by


def method_ids(names) -> list:
    """Registry names (the mode may be left out: offline) -> MethodIds; a typed error for a bad one."""
    return [parse(name, default_mode="offline", where="bench --methods") for name in names]


def bench(cell: str, hiddens: list[int], batch: int, length: int, methods: list[str], density: float = 1.0,
          repeats: int = 3, lengths_for_memory: tuple | None = (128, 4096), progress=None,
          rates_file: str | None = None, best: bool = False) -> list[dict]:
    """Measure every (hidden, method); rows for skipped combinations carry `skipped` with the reason.

    `methods`: registry names (bptt-offline, snap1-offline, snap1-traces-offline, snap2-online, ...).
    Throughput rows: method (canonical name), cell, hidden, units, density, batch, length, tokens_per_s,
    ratio_to_bptt, peak_device_bytes, compiled_bytes, trace_bytes, bytes_per_step,
    bandwidth_floor_fraction (measured / 2 trace_bytes per step at the copy bandwidth),
    predicted_tokens_per_s (rtrl.costs.update_seconds at the rates measured in this run),
    measured_over_predicted, bandwidth, flop_rate (the largest product's), op_seconds, device, skipped.
    `best`: time each row by its fastest repeat (as the rates are), not the median: on a shared
    machine other work only ever slows a run down, so the fastest is the least disturbed.
    `rates_file`: where to save the measured rates (bench/devices.py save_rates) for `snapsweep plan`.
    Memory-flatness rows (kind "memory"): FLATNESS_METHODS compiled at each length in
    `lengths_for_memory`, with compiled_bytes (and peak_device_bytes where the device reports it).
    """
    ids = method_ids(methods)  # typed error for unknown names before anything runs
    say = progress or (lambda message: None)
    kind = devices.device_kind()
    cpu = devices.on_cpu()
    # Measured in this run: the floor and the static prediction (rtrl.costs.update_seconds) use them.
    rates = devices.measure_rates()
    if rates_file:
        devices.save_rates(rates, rates_file)
    bandwidth, flop_rate = rates.bandwidth, rates.product_rate(devices.PRODUCT_DIMS[-1])
    say(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s, products " + ", ".join(
        f"{rate / 1e9:.0f}" for _, rate in rates.product_rates) + f" GFLOP/s at d = {devices.PRODUCT_DIMS}, "
        f"{rates.op_seconds * 1e6:.2f} us per kernel")
    flop_limit = MAX_FLOP_PER_UPDATE["cpu" if cpu else "other"]
    rows: list[dict] = []
    task = None  # one random-text task per (batch, length), shared by every method and size
    for hidden in hiddens:
        bptt_tps = None
        for method_id in sorted(ids, key=lambda m: m != REFERENCE):  # the ratio's reference first
            name = method_id.name
            row = {"kind": "throughput", "method": name, "cell": cell, "hidden": hidden, "units": None,
                   "density": density, "batch": batch, "length": length, "tokens_per_s": None,
                   "ratio_to_bptt": None, "peak_device_bytes": None, "compiled_bytes": None,
                   "trace_bytes": None, "bytes_per_step": None, "bandwidth_floor_fraction": None,
                   "predicted_tokens_per_s": None, "measured_over_predicted": None,
                   "bandwidth": bandwidth, "flop_rate": flop_rate, "op_seconds": rates.op_seconds,
                   "device": kind, "skipped": None}
            rows.append(row)
            try:
                program = sized_program(cell, hidden, batch, length, method_id, density, task)
            except (BudgetError, ConfigError) as err:
                row["skipped"] = err.one_line()
                say(f"{name} k={hidden}: skipped ({row['skipped']})")
                continue
            task = program.task
            row["units"] = program.model.units
            cost = program.make_method().cost(batch)
            row["trace_bytes"], row["bytes_per_step"] = cost.trace_bytes, cost.bytes_per_step
            if cost.flops_per_step * length > flop_limit:
                row["skipped"] = f"estimated work too large for this device (limit {flop_limit:.0e} FLOP per update)"
                say(f"{name} k={row['units']}: skipped (too slow here)")
                continue
            say(f"{name} k={row['units']}: compiling and timing")
            pack = compile_pack(program, 1)
            row["compiled_bytes"] = devices.executable_bytes(pack.chunk)
            updates = updates_per_window(program)
            windows, pack = windows_per_call(pack, updates)
            seconds, tokens, _ = time_pack(pack, updates * windows, repeats, best)
            row["tokens_per_s"] = tokens / seconds
            row["peak_device_bytes"] = devices.peak_bytes()
            if method_id == REFERENCE:
                bptt_tps = row["tokens_per_s"]
            if bptt_tps:
                row["ratio_to_bptt"] = row["tokens_per_s"] / bptt_tps
            if cost.trace_bytes:
                # Floor: reading and writing the traces once per time step at the copy bandwidth.
                floor_tps = batch / (2 * cost.trace_bytes / bandwidth)
                row["bandwidth_floor_fraction"] = row["tokens_per_s"] / floor_tps
            steps = length // updates  # time steps per update: the window offline, 1 online
            row["predicted_tokens_per_s"] = batch * steps / update_seconds(cost, rates, steps)
            row["measured_over_predicted"] = row["tokens_per_s"] / row["predicted_tokens_per_s"]
            say(f"{name} k={row['units']}: {row['tokens_per_s']:.0f} tokens/s")
            del pack
        if lengths_for_memory:
            rows.extend(memory_flatness(cell, hidden, batch, density, lengths_for_memory, kind, say))
    return rows


def memory_flatness(cell, hidden, batch, density, lengths, kind, say) -> list[dict]:
    """Compiled memory of the update at each window length: flat for SnAp-1, linear in T for BPTT."""
    rows = []
    for length in lengths:
        task = None
        for method_id in method_ids(FLATNESS_METHODS):
            program = sized_program(cell, hidden, batch, length, method_id, density, task)
            task = program.task
            pack = compile_pack(program, 1)
            row = {"kind": "memory", "method": method_id.name, "cell": cell, "hidden": hidden,
                   "units": program.model.units, "batch": batch, "length": length,
                   "compiled_bytes": devices.executable_bytes(pack.chunk), "peak_device_bytes": None,
                   "device": kind}
            if not devices.on_cpu():
                time_pack(pack, 1, 1)
                row["peak_device_bytes"] = devices.peak_bytes()
            rows.append(row)
            say(f"memory {method_id.name} k={row['units']} T={length}: {row['compiled_bytes']} compiled bytes")
    return rows
