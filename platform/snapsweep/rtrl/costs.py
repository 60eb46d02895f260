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

import math
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
    # How the time of a step splits (step_seconds): the batched trace product among the FLOPs,
    # the contracting dimension that sets its rate, and the kernels the step runs one after another.
    product_flops: int = 0
    product_inner: int = 0
    forward_inner: int = 0  # contracting dimension of the other FLOPs (the cell's and readout's products)
    ops_per_step: int = 0
    # Once per update, whatever the window: the optimizer, the finiteness guard and the select that
    # keeps or drops the update, over the parameters and Adam's moments (not the carry: train/step.py).
    bytes_per_update: int = 0
    ops_per_update: int = 0


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


def param_count(model: ModelConfig) -> int:
    """Every parameter the optimizer updates: the cell's p, the readout, the embedding if any."""
    embed = model.vocab_in * model.embed_dim if model.input_kind == "embed" else 0
    return cell_param_count(model) + (model.units + 1) * model.vocab_out + embed


# Kernels one time step runs in sequence, by how the method gets its gradient, and per update (the
# window draw, the optimizer, the guard, the select). Counted in the compiled update's loop bodies
# (XLA fusions and products, GRU at k = 32); they follow the program's structure, not its sizes.
OPS_PER_STEP = {"backward": 48, "forward": 64, "uoro": 96}
OPS_PER_UPDATE = 160
# Passes over the parameters per update: gradient scaling (2), Adam (6), applying it (3), the
# finiteness guard (4) and keeping or dropping the update (9, parameters and both moments).
UPDATE_PASSES = 24
# Passes over the traces per time step (reads + writes): SnAp-1 J <- d ⊙ J + I (2) and the
# gradient's read (1); SnAp-n's product reads J and writes its result, which the immediate term's
# add reads and writes into the carry (4; the gradient is a row of the product); on a cell whose
# gates differ in pattern (the LSTM) the add also applies M_n and the gradient reads the result (5);
# exact RTRL J <- D J + I (2), the gradient's read (1), and the immediate Jacobian I written and
# added as a separate pass (4 more); Appendix D's numeric mask is a select that XLA fuses into that
# add, no pass of its own (measured no slower than exact RTRL at either size of `bench --check`).
TRACE_PASSES = {"snap": 3, "snapn": 4, "snapn-masked": 5, "rtrl": 7, "snap-numeric": 7, "uoro": 3}


def cost(method: MethodId, model: ModelConfig, batch: int) -> Cost:
    numbers = trace_numbers(method, model)
    size = itemsize(model)
    trace_bytes = numbers * batch * size
    F = forward_flops(model, batch)
    G, C = CELL_SHAPES[model.cell]
    k = model.units
    forward = (3 * F, k)  # forward and backward products contract over k (and the fan-in)
    product = None  # the batched trace product, where the method has one
    passes, extra_bytes, kind = 0, 0, "forward"
    if numbers == 0:  # BPTT-shaped: forward, backward through states and parameters
        kind = "backward"
    elif method.family in ("rtrl", "snap-numeric"):
        # J_t = I_t + D_t J_{t-1}: a (Ck x Ck) by (Ck x p) product per example dominates.
        product = (2 * batch * (C * k) * numbers, C * k)
        passes = TRACE_PASSES[method.family]
    elif method.family == "snap" and method.n > 1:
        # J_v <- D_local[v] J_v over each unit's neighbourhood (N x C by N x C per row entry), with
        # one more row, δᵀ D_local, for the gradient where the pattern is the same for every gate
        # (snapn.uniform_pattern: the one-channel cells; a test checks that the two agree).
        N = neighbourhood_size(model, method.n)
        rows = N * C + (1 if C == 1 else 0)
        product = (2 * batch * (numbers // (N * C)) * rows * N * C, N * C)
        passes = TRACE_PASSES["snapn" if C == 1 else "snapn-masked"]
        extra_bytes = 2 * k * batch * rows * N * C * size  # D_local, written and read once
    else:  # SnAp-1 traces and UORO: a few multiply-adds per trace entry
        forward = (3 * F + 4 * batch * numbers, k)
        passes = TRACE_PASSES["uoro" if method.family == "uoro" else "snap"]
        kind = "uoro" if method.family == "uoro" else "forward"
    products = (forward,) if product is None else (forward, product)
    return Cost(trace_numbers=numbers, trace_bytes=trace_bytes,
                bytes_per_step=passes * trace_bytes + extra_bytes,
                flops_per_step=sum(flops for flops, _ in products),
                product_flops=0 if product is None else product[0],
                product_inner=0 if product is None else product[1], forward_inner=k,
                ops_per_step=OPS_PER_STEP[kind],
                bytes_per_update=UPDATE_PASSES * param_count(model) * size,
                ops_per_update=OPS_PER_UPDATE)


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


class Rates(NamedTuple):
    """What a device does per second, measured by `snapsweep bench` (bench/devices.py) or guessed.

    product_rates: (contracting dimension, FLOP/s) of batched float32 products, ascending; small
    products (SnAp-n's per-unit D_local J_v, the cell's own matvecs at small k) run far below the
    peak, so the rate is read at each product's own contracting dimension."""

    device: str
    bandwidth: float  # bytes/s of an in-place copy, reads + writes counted
    op_seconds: float  # seconds per kernel in a scanned step (dispatch and small-op latency)
    product_rates: tuple  # ((inner, FLOP/s), ...)
    measured_at: str | None = None  # ISO time of the measurement; None: guessed

    def product_rate(self, inner: int) -> float:
        """FLOP/s at contracting dimension `inner`: log-log interpolation, flat past the ends."""
        points = sorted(self.product_rates)
        if inner <= points[0][0]:
            return points[0][1]
        for (d0, r0), (d1, r1) in zip(points, points[1:]):
            if inner == d1:
                return r1
            if inner < d1:
                w = (math.log(inner) - math.log(d0)) / (math.log(d1) - math.log(d0))
                return math.exp((1 - w) * math.log(r0) + w * math.log(r1))
        return points[-1][1]

    def to_json(self) -> dict:
        return {"device": self.device, "bandwidth": self.bandwidth, "op_seconds": self.op_seconds,
                "product_rates": [list(p) for p in self.product_rates], "measured_at": self.measured_at}

    @classmethod
    def from_json(cls, data: dict) -> "Rates":
        return cls(device=str(data["device"]), bandwidth=float(data["bandwidth"]),
                   op_seconds=float(data["op_seconds"]),
                   product_rates=tuple((int(d), float(r)) for d, r in data["product_rates"]),
                   measured_at=data.get("measured_at"))


# Orders of magnitude per device kind, for planning where nothing was measured (said so in the plan).
GUESSED_RATES = {
    "cpu": Rates("cpu (guessed)", 20e9, 1e-6, ((8, 5e9), (32, 20e9), (128, 40e9), (512, 80e9))),
    "gpu": Rates("gpu (guessed)", 1e12, 8e-6, ((8, 2e10), (32, 2e11), (128, 2e12), (512, 2e13))),
    "tpu": Rates("tpu (guessed)", 1e12, 8e-6, ((8, 2e10), (32, 2e11), (128, 4e12), (512, 4e13))),
}


def step_seconds(step_cost: Cost, rates: Rates, members: int = 1) -> float:
    """Predicted seconds of one time step for the batch of each of `members` vmapped members.

    Kernels run one after another at the device's per-kernel latency, whatever their size (members
    share them); each member's trace bytes move at the copy bandwidth and its FLOPs run at the
    product rate of their contracting dimension. The parts are added, not overlapped: on a CPU the
    trace update and the products it needs run in the same loops one after the other."""
    other = step_cost.flops_per_step - step_cost.product_flops
    work = step_cost.bytes_per_step / rates.bandwidth
    if other:
        work += other / rates.product_rate(max(1, step_cost.forward_inner))
    if step_cost.product_flops:
        work += step_cost.product_flops / rates.product_rate(step_cost.product_inner)
    return step_cost.ops_per_step * rates.op_seconds + members * work


def update_seconds(step_cost: Cost, rates: Rates, steps: int, members: int = 1) -> float:
    """Predicted seconds of one update that runs `steps` time steps (1 online, the window offline)."""
    fixed = step_cost.ops_per_update * rates.op_seconds + members * step_cost.bytes_per_update / rates.bandwidth
    return fixed + steps * step_seconds(step_cost, rates, members)
