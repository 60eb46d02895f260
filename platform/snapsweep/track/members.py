"""`MemberLogger`: the trainer's `on_metrics` callback, routed to one MLflow run per pack member.

The trainer reports `[{"member": i, "step": s, "metrics": {...}}, ...]` for every member of a pack
at once; this turns one such report into one `log_batch` per member run (through the tracker's
outage buffer) instead of one request per key. `split` is that routing on its own, for the Tune
trial, which journals the same points (track.journal) instead of sending them.
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping, Sequence

from snapsweep.errors import TrackingError
from snapsweep.track import tags as T
from snapsweep.track.client import Record, Tracker

log = logging.getLogger(__name__)


Numbers = dict[int, list[Record]]  # member -> (key, value, step) points
Text = dict[int, dict[str, str]]  # member -> {snapsweep.last.<key>: text} to set as tags


def split(records: Iterable[Mapping], members: int, sent: Mapping[tuple[int, str], str]) -> tuple[Numbers, Text]:
    """One `on_metrics` report as numeric points per member, and the text values (a status) that
    differ from `sent` ((member, key) -> the text last sent; the caller updates it) as tags."""
    numbers: Numbers = {}
    text: Text = {}
    for record in records:
        member = int(record["member"])
        if not 0 <= member < members:
            raise IndexError(f"metrics for member {member}, but the pack has {members} runs")
        step = int(record["step"])
        batch = numbers.setdefault(member, [])
        for key, value in record["metrics"].items():
            number = _number(value)
            if number is not None:
                batch.append((key, number, step))
            elif value is not None and sent.get((member, key)) != str(value):
                text.setdefault(member, {})[T.LAST_PREFIX + key] = str(value)
    return numbers, text


class MemberLogger:
    def __init__(self, tracker: Tracker, run_ids: Sequence[str]):
        self.tracker = tracker
        self.run_ids = list(run_ids)
        # Last text value sent per (member, key): text metrics (a status) become tags, and are
        # only re-sent when they change.
        self._text: dict[tuple[int, str], str] = {}

    def __call__(self, records: Iterable[Mapping]) -> int:
        """Log one `on_metrics` report; returns the points still waiting in the outage buffer."""
        numbers, text = split(records, len(self.run_ids), self._text)
        pending = self.tracker.log_metrics_by_run({self.run_ids[m]: points for m, points in numbers.items()})
        for member, values in text.items():
            try:
                self.tracker.set_tags(self.run_ids[member], values)
            except TrackingError as err:  # an outage: not remembered as sent, so retried next report
                log.warning("could not tag run %s: %s", self.run_ids[member], err)
                continue
            for tag, value in values.items():
                self._text[(member, tag[len(T.LAST_PREFIX):])] = value
        return pending


def _number(value: object) -> float | None:
    """Python and numpy/jax scalars as float (booleans as 0/1); None for text and containers."""
    if isinstance(value, (str, bytes)) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
