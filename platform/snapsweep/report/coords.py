"""Where a member run sits in the paper's tables: method (row), cell and density (column), lr, seed.

Read from the axis tags that `track.trial_tags` writes. The row is the method's report label from
the registry (`SnAp-2 (online)`), so every surface names a method the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

from snapsweep.errors import ConfigError
from snapsweep.rtrl import registry
from snapsweep.track import tags as T
from snapsweep.track.records import RunRecord

Column = tuple[str, float]  # (cell, density)


@dataclass(frozen=True)
class Coords:
    method: str  # row label: MethodId.label, e.g. "SnAp-2 (online)"
    cell: str
    density: float
    lr: float
    seed: str

    @property
    def column(self) -> Column:
        return (self.cell, self.density)


def coords(run: RunRecord) -> Optional[Coords]:
    """None when the run lacks one of the coordinates (then it cannot be placed in a table)."""
    method = method_label(run.tags.get(T.METHOD))
    cell = run.tags.get(T.CELL) or None
    density = _number(run.tags.get(T.DENSITY))
    lr = _number(run.tags.get(T.LR))
    seed = run.tags.get(T.SEED) or None
    if method is None or cell is None or density is None or lr is None or seed is None:
        return None
    return Coords(method, cell, density, lr, seed)


def method_label(name: Optional[str]) -> Optional[str]:
    """"snap2-online" -> "SnAp-2 (online)"; None for a missing tag or a name outside the grammar."""
    if not name:
        return None
    try:
        return registry.parse(name).label
    except ConfigError:
        return None


def _most_common(runs: Sequence[RunRecord], tag: str) -> Optional[str]:
    values = Counter(run.tags.get(tag) for run in runs)
    values.pop(None, None)
    return values.most_common(1)[0][0] if values else None


def task_of(runs: Sequence[RunRecord]) -> Optional[str]:
    """The task kind most runs name."""
    return _most_common(runs, T.TASK)


def metric_of(runs: Sequence[RunRecord]) -> Optional[str]:
    """The headline metric most runs name (their task's TaskInfo.metric)."""
    return _most_common(runs, T.METRIC)


def _number(text: Optional[str]) -> Optional[float]:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
