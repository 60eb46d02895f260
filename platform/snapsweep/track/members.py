"""`MemberLogger`: the trainer's `on_metrics` callback, routed to one MLflow run per pack member.

The trainer reports `[{"member": i, "step": s, "metrics": {...}}, ...]` for every member of a pack
at once; this turns one such report into one `log_batch` per member run (through the tracker's
outage buffer) instead of one request per key.
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping, Sequence

from snapsweep.errors import TrackingError
from snapsweep.track import tags as T
from snapsweep.track.client import Record, Tracker

log = logging.getLogger(__name__)


class MemberLogger:
    def __init__(self, tracker: Tracker, run_ids: Sequence[str]):
        self.tracker = tracker
        self.run_ids = list(run_ids)
        # Last text value sent per (member, key): text metrics (a status) become tags, and are
        # only re-sent when they change.
        self._text: dict[tuple[int, str], str] = {}

    def __call__(self, records: Iterable[Mapping]) -> int:
        """Log one `on_metrics` report; returns the points still waiting in the outage buffer."""
        batches: dict[str, list[Record]] = {}
        text: dict[int, dict[str, str]] = {}
        for record in records:
            member = int(record["member"])
            if not 0 <= member < len(self.run_ids):
                raise IndexError(f"metrics for member {member}, but the pack has {len(self.run_ids)} runs")
            step = int(record["step"])
            batch = batches.setdefault(self.run_ids[member], [])
            for key, value in record["metrics"].items():
                number = _number(value)
                if number is not None:
                    batch.append((key, number, step))
                elif value is not None and self._text.get((member, key)) != str(value):
                    text.setdefault(member, {})[key] = str(value)
        pending = self.tracker.log_metrics_by_run(batches)
        for member, values in text.items():
            try:
                self.tracker.set_tags(self.run_ids[member], {T.LAST_PREFIX + k: v for k, v in values.items()})
            except TrackingError as err:  # an outage: not remembered as sent, so retried next report
                log.warning("could not tag run %s: %s", self.run_ids[member], err)
                continue
            for key, value in values.items():
                self._text[(member, key)] = value
        return pending


def _number(value: object) -> float | None:
    """Python and numpy/jax scalars as float (booleans as 0/1); None for text and containers."""
    if isinstance(value, (str, bytes)) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
