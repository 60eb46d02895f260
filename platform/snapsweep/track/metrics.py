"""The trainer's metric keys as the tracker and the reports present them.

The trainer (`snapsweep.train`) emits these keys through `on_metrics`; this table adds what a
reader of a plot or a table needs: a label with units and which direction is better. It lives in
`track` (not `report`) because member-run plots are drawn at `finish` time, and `report` may import
`track` but not the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

# The x axis of every learning curve: tokens consumed (batch x time steps), logged by the trainer.
TOKENS = "tokens"


@dataclass(frozen=True)
class MetricInfo:
    key: str
    label: str  # axis label, units included
    goal: Literal["min", "max"]  # which direction is better, for picking a learning rate
    fmt: str  # format spec for table cells
    integer: bool = False  # a level (counts): drawn as steps, held between points, never interpolated

    def better(self, a: float, b: float) -> bool:
        return a < b if self.goal == "min" else a > b


METRICS: dict[str, MetricInfo] = {
    m.key: m
    for m in (
        MetricInfo("valid_bpc", "validation loss (bits per character)", "min", ".3f"),
        MetricInfo("train_loss_bits", "training loss (bits per step)", "min", ".3f"),
        MetricInfo("curriculum_level", "curriculum level (max. sequence length)", "max", ".1f", integer=True),
        MetricInfo("grad_cosine", "cosine to the exact gradient", "max", ".3f"),
        MetricInfo("grad_norm_ratio", "gradient norm / exact gradient norm", "max", ".3f"),
        MetricInfo("tokens_per_s", "throughput (tokens per second)", "max", ".0f"),
        MetricInfo("trace_bytes", "method state of one member, whole batch (bytes)", "min", ".0f"),
    )
}

# Keys drawn in a member run's learning-curve figure, in panel order (those the run has).
CURVE_KEYS = ("valid_bpc", "curriculum_level", "train_loss_bits", "grad_cosine")
# Curves a report draws beside its headline metric: training loss, and gradient fidelity.
SIDE_CURVES = ("train_loss_bits", "grad_cosine")
# The cost columns of a report, from the runs' own last logged values.
COST_KEYS = ("tokens_per_s", "trace_bytes")


def metric_info(key: str, goal: Optional[Literal["min", "max"]] = None) -> MetricInfo:
    """Known keys keep their label; an unknown key gets a plain label and `goal` (default min)."""
    known = METRICS.get(key)
    if known is None:
        return MetricInfo(key, key, goal or "min", ".4g")
    if goal is not None and goal != known.goal:
        return MetricInfo(known.key, known.label, goal, known.fmt, known.integer)
    return known
