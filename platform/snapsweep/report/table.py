"""`Report`: the paper-style table of one sweep, and its Markdown and CSV renderings.

Rows are methods (label with n and update mode), columns are cell × density; a cell holds
mean ± sample standard deviation over seeds of the final metric, at the learning rate with the best
mean. The Markdown has a second table saying which learning rate that was, how many seeds it
averages and how many diverged, and a third with what each cell cost (tokens per second and the
method's state in bytes, the runs' own last logged values); the CSV has one line per (method, cell,
density) with every number.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Mapping, Optional

from snapsweep.report.coords import Column
from snapsweep.report.select import Cell
from snapsweep.track.metrics import MetricInfo

MISSING = "—"
DIVERGED = "diverged"


@dataclass(frozen=True)
class Curve:
    """Mean learning curve over seeds at the chosen learning rate."""

    x: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    x_label: str  # "tokens", or "updates" when the runs did not log tokens
    n_seeds: int


@dataclass(frozen=True)
class Cost:
    """Mean over the chosen seeds of each run's last logged value; None where none was logged."""

    tokens_per_s: Optional[float]
    trace_bytes: Optional[float]


@dataclass(frozen=True)
class Report:
    experiment: str
    sweep: str
    task: Optional[str]
    metric: MetricInfo
    methods: tuple[str, ...]
    columns: tuple[Column, ...]
    cells: Mapping[tuple[str, Column], Cell]
    # metric key -> (method, column) -> mean curve: the headline metric, training loss, fidelity.
    curves: Mapping[str, Mapping[tuple[str, Column], Curve]] = field(default_factory=dict)
    costs: Mapping[tuple[str, Column], Cost] = field(default_factory=dict)
    # Runs left out, and why: not finished yet, or missing a coordinate, or superseded by a newer
    # run at the same coordinates.
    skipped: Mapping[str, int] = field(default_factory=dict)

    def cell(self, method: str, column: Column) -> Optional[Cell]:
        return self.cells.get((method, column))

    def text(self, method: str, column: Column) -> str:
        """What the table shows for one cell: "1.234 ± 0.010", "—" (no runs) or "diverged"."""
        cell = self.cell(method, column)
        if cell is None:
            return MISSING
        if cell.chosen is None:
            return DIVERGED
        if cell.n_seeds == 1:  # one seed has no spread: say so instead of "± 0"
            return f"{cell.mean:{self.metric.fmt}} (n=1)"
        return f"{cell.mean:{self.metric.fmt}} ± {cell.std:{self.metric.fmt}}"

    def cost_text(self, method: str, column: Column) -> str:
        cost = self.costs.get((method, column))
        if cost is None or (cost.tokens_per_s is None and cost.trace_bytes is None):
            return MISSING
        speed = MISSING if cost.tokens_per_s is None else f"{cost.tokens_per_s:,.0f} tok/s"
        return f"{speed}, {MISSING if cost.trace_bytes is None else format_bytes(cost.trace_bytes)}"

    def lr_text(self, method: str, column: Column) -> str:
        cell = self.cell(method, column)
        if cell is None:
            return MISSING
        if cell.chosen is None:
            return f"all diverged ({cell.diverged_total})"
        parts = [f"{cell.n_seeds} seed{'s' if cell.n_seeds != 1 else ''}"]
        if cell.diverged:
            parts.append(f"{cell.diverged} diverged")
        if cell.diverged_total - cell.diverged:
            parts.append(f"{cell.diverged_total - cell.diverged} diverged at other lrs")
        return f"{format_lr(cell.lr)} ({', '.join(parts)})"

    @property
    def markdown(self) -> str:
        better = "lower" if self.metric.goal == "min" else "higher"
        head = ["method", *(column_label(c) for c in self.columns)]
        lines = [
            f"# {self.sweep}: final {self.metric.label}",
            "",
            f"Experiment `{self.experiment}`, task `{self.task or 'unknown'}`, metric `{self.metric.key}` "
            f"({better} is better). Each cell: mean ± sample standard deviation over seeds of the final "
            f"value, at the learning rate with the best mean (n=1: a single seed); {MISSING}: no runs; "
            f"{DIVERGED}: every run diverged.",
            "",
            *_md_table(head, [[m, *(self.text(m, c) for c in self.columns)] for m in self.methods]),
            "",
            "## Chosen learning rate (seeds averaged; diverged runs)",
            "",
            *_md_table(head, [[m, *(self.lr_text(m, c) for c in self.columns)] for m in self.methods]),
        ]
        if self.costs:
            lines += ["", "## Cost (tokens per second; method state of one member, whole batch)", "",
                      *_md_table(head, [[m, *(self.cost_text(m, c) for c in self.columns)] for m in self.methods])]
        if any(self.skipped.values()):
            left_out = ", ".join(f"{n} {why}" for why, n in self.skipped.items() if n)
            lines += ["", f"Runs left out: {left_out}."]
        return "\n".join(lines) + "\n"

    @property
    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["method", "cell", "density", "metric", "goal", "mean", "std", "n_seeds", "lr",
                         "diverged_at_lr", "diverged_all_lrs", "lrs_tried", "tokens_per_s", "trace_bytes", "shown"])
        for method in self.methods:
            for column in self.columns:
                cell = self.cell(method, column)
                shown = self.text(method, column)
                if cell is None:
                    writer.writerow([method, column[0], column[1], self.metric.key, self.metric.goal,
                                     "", "", 0, "", "", "", "", "", "", shown])
                    continue
                cost = self.costs.get((method, column), Cost(None, None))
                writer.writerow([
                    method, column[0], column[1], self.metric.key, self.metric.goal,
                    _num(cell.mean), _num(cell.std), cell.n_seeds, _num(cell.lr),
                    cell.diverged, cell.diverged_total, " ".join(format_lr(lr) for lr in cell.by_lr),
                    _num(cost.tokens_per_s), _num(cost.trace_bytes), shown,
                ])
        return out.getvalue()


def column_label(column: Column) -> str:
    cell, density = column
    return f"{cell} d={density:g}"  # short: it heads a table column


def format_lr(lr: Optional[float]) -> str:
    """Three significant digits: 1e-3 -> "0.001", 10^-2.5 -> "0.00316"."""
    return MISSING if lr is None else f"{lr:.3g}"


def format_bytes(n: float) -> str:
    """Binary units, three significant digits: 56623104 -> "54 MiB", 1034240 -> "0.986 MiB".

    The unit steps up at 1000, not 1024, so that three significant digits never need an exponent."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1000 or unit == "GiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} GiB"


def _num(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value))


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
