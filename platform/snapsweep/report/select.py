"""One table cell from its runs: pick the learning rate, then mean ± std over seeds.

The paper's protocol: for each method × cell × density, the learning rate whose mean final metric
over seeds is best. A learning rate at which a seed diverged has no finite mean, so it only wins
when every learning rate lost a seed (then the one that lost the fewest, by the mean of the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from snapsweep.track.metrics import MetricInfo
from snapsweep.track.records import RunRecord, is_finite


@dataclass(frozen=True)
class LrResult:
    lr: float
    values: tuple[float, ...]  # final metric of the seeds that did not diverge
    diverged: int
    run_ids: tuple[str, ...]  # the seeds that did not diverge

    @property
    def mean(self) -> Optional[float]:
        return float(np.mean(self.values)) if self.values else None

    @property
    def std(self) -> Optional[float]:
        # Sample standard deviation (ddof=1): seeds are a sample; one seed has no spread.
        if not self.values:
            return None
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0


@dataclass(frozen=True)
class Cell:
    method: str
    cell: str
    density: float
    chosen: Optional[LrResult]  # None: every run at every lr diverged
    by_lr: Mapping[float, LrResult] = field(default_factory=dict)

    @property
    def mean(self) -> Optional[float]:
        return self.chosen.mean if self.chosen else None

    @property
    def std(self) -> Optional[float]:
        return self.chosen.std if self.chosen else None

    @property
    def lr(self) -> Optional[float]:
        return self.chosen.lr if self.chosen else None

    @property
    def n_seeds(self) -> int:
        return len(self.chosen.values) if self.chosen else 0

    @property
    def diverged(self) -> int:
        """Diverged seeds at the chosen learning rate."""
        return self.chosen.diverged if self.chosen else 0

    @property
    def diverged_total(self) -> int:
        """Diverged runs over all learning rates of this cell."""
        return sum(r.diverged for r in self.by_lr.values())


def lr_result(lr: float, runs: Sequence[RunRecord], key: str) -> LrResult:
    values, ids, diverged = [], [], 0
    for run in runs:
        # Divergence first: a diverged run may have no final value at all (the trainer reports
        # None for a non-finite one), and it must still be counted.
        if run.diverged(key):
            diverged += 1
            continue
        value = run.final(key)
        if value is None:
            continue  # never reached the metric (e.g. stopped before the first evaluation)
        if not is_finite(value):
            diverged += 1
            continue
        values.append(value)
        ids.append(run.run_id)
    return LrResult(lr, tuple(values), diverged, tuple(ids))


def choose(results: Sequence[LrResult], metric: MetricInfo) -> Optional[LrResult]:
    candidates = [r for r in results if r.values]
    if not candidates:
        return None
    sign = 1.0 if metric.goal == "min" else -1.0
    # Fewest diverged seeds first (0 = a finite mean over all seeds), then the best mean, then the
    # smaller learning rate for an exact tie, so the choice never depends on dictionary order.
    return min(candidates, key=lambda r: (r.diverged, sign * r.mean, r.lr))


def make_cell(method: str, column: tuple[str, float], runs_by_lr: Mapping[float, Sequence[RunRecord]],
              metric: MetricInfo) -> Cell:
    results = {lr: lr_result(lr, runs, metric.key) for lr, runs in sorted(runs_by_lr.items())}
    return Cell(method, column[0], column[1], choose(list(results.values()), metric), results)
