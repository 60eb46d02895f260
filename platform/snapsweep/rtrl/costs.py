"""What a method costs per time step: the numbers it keeps, the bytes it moves, the FLOPs it does.

The one source for the `trace_bytes` metric, `snapsweep plan`'s estimate, bench's bandwidth floor
and the memory budget. Pure Python arithmetic on a `ModelConfig` and a `MethodId` (no JAX), so the
spec layer checks budgets and the planner prices packs where JAX is not installed. The conformance
suite (tests/rtrl) checks `trace_numbers` against the real size of every method's carry.

Notation: k units, G gates, C state channels, n_in input width, V readout width, m kept fan-in,
m_in kept input columns (n_in without input masks), p = G k (k + n_in + 1) stored cell parameters,
B batch, N SnAp-n's neighbourhood bound. Traces keep unmasked parameters only: SnAp-1 C k G (m + m_in
+ 1) numbers per example, SnAp-n N times that.
"""

from __future__ import annotations

from typing import NamedTuple

from snapsweep.errors import BudgetError
from snapsweep.rtrl.config import CELL_SHAPES, ModelConfig, mask_fan_in
from snapsweep.rtrl.registry import MethodId

# Per-example bytes of method state above which a method is refused: at batch 16 this is 16 GiB
# of traces, about what one accelerator holds next to everything else. A spec setting overrides it.
TRACE_BUDGET_BYTES = 1 << 30


class Cost(NamedTuple):
    trace_numbers: int  # method state per example beyond the recurrent state (the traces)
    trace_bytes: int  # trace_numbers * B * itemsize: what the carry holds for the whole batch
    bytes_per_step: int  # bytes of trace traffic per time step for the batch (reads + writes)
    flops_per_step: int  # FLOPs per time step for the batch, forward and gradient together


def itemsize(model: ModelConfig) -> int:
    return 8 if model.dtype == "float64" else 4


def cell_param_count(model: ModelConfig) -> int:
    """p: G k (k + n_in + 1), masked entries included (they are stored)."""
    G, _ = CELL_SHAPES[model.cell]
    k = model.units
    return G * k * (k + model.input_width + 1)


def input_fan_in(model: ModelConfig) -> int:
    """Kept input columns per row of W: all n_in, or the input mask's fixed fan-in (model.py)."""
    return mask_fan_in(model.input_width, model.density) if model.mask_inputs else model.input_width


def row_param_count(model: ModelConfig) -> int:
    """Unmasked parameters of one unit's row (kept entries of U and W only): G (m + m_in + 1)."""
    G, _ = CELL_SHAPES[model.cell]
    return G * (model.fan_in + input_fan_in(model) + 1)


def neighbourhood_size(model: ModelConfig, n: int) -> int:
    """Bound on how many units a unit reaches within n-1 steps of the recurrent core.

    Masks have a fixed fan-out m per gate (masks.py), so D's pattern has out-degree at most m
    (shared masks) or G m (per-gate masks) besides the diagonal; within r steps at most
    1 + f + ... + f^r units are reached. Depends only on the config, so shapes do too."""
    G, _ = CELL_SHAPES[model.cell]
    f = model.fan_in * (1 if model.shared_masks else G)
    total, frontier = 1, 1
    for _ in range(n - 1):
        frontier *= f
        total += frontier
        if total >= model.units:
            return model.units
    return min(model.units, total)


def trace_numbers(method: MethodId, model: ModelConfig) -> int:
    G, C = CELL_SHAPES[model.cell]
    k, p = model.units, cell_param_count(model)
    if method.family == "bptt" or (method.family == "snap" and method.n == 1 and method.resolved_form == "cut"):
        return 0  # backward methods: nothing carried between calls
    if method.family == "snap" and method.n == 1:
        return C * k * row_param_count(model)  # one number per unmasked parameter and channel
    if method.family == "snap":
        return k * neighbourhood_size(model, method.n) * C * row_param_count(model)
    if method.family in ("rtrl", "snap-numeric"):
        return C * k * p
    if method.family == "uoro":
        return C * k + p
    raise ValueError(f"no cost model for {method.name}")


def forward_flops(model: ModelConfig, batch: int) -> int:
    """One forward time step: the recurrent and input products, and the readout."""
    G, _ = CELL_SHAPES[model.cell]
    k = model.units
    n_in = 1 if model.input_kind == "onehot" else model.input_width  # a one-hot input is a gather
    return 2 * batch * (G * k * (model.fan_in + n_in) + k * model.vocab_out)


def cost(method: MethodId, model: ModelConfig, batch: int) -> Cost:
    numbers = trace_numbers(method, model)
    size = itemsize(model)
    trace_bytes = numbers * batch * size
    F = forward_flops(model, batch)
    G, C = CELL_SHAPES[model.cell]
    k = model.units
    if numbers == 0:  # BPTT-shaped: forward, backward through states and parameters
        flops = 3 * F
    elif method.family in ("rtrl", "snap-numeric"):
        # J_t = I_t + D_t J_{t-1}: a (Ck x Ck) by (Ck x p) product per example dominates.
        flops = 3 * F + 2 * batch * (C * k) * numbers
    elif method.family == "snap" and method.n > 1:
        # J_v <- D_local[v] J_v over each unit's neighbourhood (N x C by N x C per row entry).
        N = neighbourhood_size(model, method.n)
        flops = 3 * F + 2 * batch * numbers * N * C
    else:  # SnAp-1 traces and UORO: a few multiply-adds per trace entry
        flops = 3 * F + 4 * batch * numbers
    # Each step reads and writes every trace entry once; the gradient reads them again.
    return Cost(trace_numbers=numbers, trace_bytes=trace_bytes, bytes_per_step=3 * trace_bytes,
                flops_per_step=flops)


def check_budget(method: MethodId, model: ModelConfig, budget_bytes: int | None = None) -> None:
    """Refuse a method whose per-example traces exceed the budget, naming what it would need."""
    budget = TRACE_BUDGET_BYTES if budget_bytes is None else budget_bytes
    need = trace_numbers(method, model) * itemsize(model)
    if need > budget:
        raise BudgetError(
            f"{method.name} needs {need / 2**20:,.0f} MiB of traces per example at k={model.units} "
            f"(budget {budget / 2**20:,.0f} MiB)",
            where="method",
            fix="use a smaller hidden size, a sparser network (for SnAp-n), snap1, or bptt-offline",
        )


def step_seconds(step_cost: Cost, bandwidth: float, flop_rate: float) -> float:
    """Predicted seconds of one time step for the batch: trace bytes at the copy bandwidth plus
    FLOPs at the matrix-product rate (bytes/s and FLOP/s measured on the device, bench/devices.py).

    The two are added, not overlapped: on a CPU the trace update and the products it needs run in
    the same loops one after the other, so neither hides the other."""
    return step_cost.bytes_per_step / bandwidth + step_cost.flops_per_step / flop_rate
