"""Sizes of method state, and the memory budget that refuses what cannot fit.

p counts the cell's stored parameters (W, U, b, masked entries included: they are stored, and the
traces of SnAp-1 and RTRL have their shape). The readout and an input embedding are not traced.
"""

from __future__ import annotations

import numpy as np

from snapsweep.errors import BudgetError
from snapsweep.rtrl.cells import get_cell

# Per-example bytes of method state above which RTRL and SnAp-n are refused: at batch 16 this is
# 16 GiB of traces, about what one accelerator can hold next to everything else.
TRACE_BUDGET_BYTES = 1 << 30


def cell_param_count(model) -> int:
    """p: G * k * (k + n_in + 1)."""
    cell = get_cell(model.cell)
    k = model.units
    return cell.gates * k * (k + model.input_width + 1)


def row_param_count(model) -> int:
    """Parameters of one unit's row with U stored compactly (only kept entries): G * (m + n_in + 1)."""
    cell = get_cell(model.cell)
    return cell.gates * (model.fan_in + model.input_width + 1)


def neighbourhood_size(model, n: int) -> int:
    """Bound on how many units a unit reaches within n-1 steps of the recurrent core.

    Masks have a fixed fan-out m per gate (masks.py), so D's pattern has out-degree at most
    m (shared masks) or G*m (per-gate masks) besides the diagonal; within r steps at most
    1 + f + ... + f^r units are reached. Depends only on the config, so shapes do too.
    """
    cell = get_cell(model.cell)
    f = model.fan_in * (1 if model.shared_masks else cell.gates)
    total, frontier = 1, 1
    for _ in range(n - 1):
        frontier *= f
        total += frontier
        if total >= model.units:
            return model.units
    return min(model.units, total)


def check_budget(model, method: str, numbers_per_example: int, budget_bytes: int | None) -> None:
    budget = TRACE_BUDGET_BYTES if budget_bytes is None else budget_bytes
    need = int(numbers_per_example) * np.dtype(model.dtype).itemsize
    if need > budget:
        raise BudgetError(
            f"{method} needs {need / 2**20:.0f} MiB of traces per example at k={model.units} "
            f"(budget {budget / 2**20:.0f} MiB)",
            where="method",
            fix="use a smaller hidden size, a sparser network (for SnAp-n), snap with n: 1, or bptt",
        )
