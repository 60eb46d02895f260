"""Where a member run sits in the paper's tables: method (row), cell and density (column), lr, seed.

Read from the axis tags that `track.trial_tags` writes, with the flattened parameters
(`TrainConfig.to_dict()` keys) as a fallback, so runs logged by other means still land in a table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

from snapsweep.track import tags as T
from snapsweep.track.metrics import TASK_METRIC
from snapsweep.track.records import RunRecord

Column = tuple[str, float]  # (cell, density)


@dataclass(frozen=True)
class Coords:
    method: str  # row label: method label with its update mode
    cell: str
    density: float
    lr: float
    seed: str

    @property
    def column(self) -> Column:
        return (self.cell, self.density)


def coords(run: RunRecord) -> Optional[Coords]:
    """None when the run lacks one of the coordinates (then it cannot be placed in a table)."""
    method = _first(run, T.METHOD, "method.label", "method.name")
    mode = _first(run, T.MODE, "method.mode")
    cell = _first(run, T.CELL, "model.cell")
    density = _number(_first(run, T.DENSITY, "model.density"))
    lr = _number(_first(run, T.LR, "lr", "member.lr", "optim.lr"))
    seed = _first(run, T.SEED, "seed", "member.seed")
    if method is None or cell is None or density is None or lr is None or seed is None:
        return None
    if T.METHOD not in run.tags and method == "snap" and "method.n" in run.params:
        method = f"snap{run.params['method.n']}"  # the spec's short form, e.g. snap2
    return Coords(method_label(method, mode), cell, density, lr, seed)


def method_label(method: str, mode: Optional[str]) -> str:
    """"snap2" + "online" -> "snap2 (online)"; a label that already names its mode is kept."""
    if not mode or mode in method:
        return method
    return f"{method} ({mode})"


def task_of(runs: Sequence[RunRecord]) -> Optional[str]:
    """The task most runs name ("copy" or "wikitext"); else guessed from which metric they log."""
    kinds = Counter(run.tags.get(T.TASK) or run.params.get("task.kind") for run in runs)
    kinds.pop(None, None)
    if kinds:
        return kinds.most_common(1)[0][0]
    for run in runs:
        for task, metric in TASK_METRIC.items():
            if metric in run.metrics or f"{T.FINAL_METRIC_PREFIX}{metric}" in run.metrics:
                return task
    return None


def _first(run: RunRecord, tag: str, *params: str) -> Optional[str]:
    if run.tags.get(tag):
        return run.tags[tag]
    for name in params:
        if run.params.get(name):
            return run.params[name]
    return None


def _number(text: Optional[str]) -> Optional[float]:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None
