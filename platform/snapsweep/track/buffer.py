"""The outage buffer: metric points wait here until the tracking server takes them.

A training trial must not stop, or block for minutes, because the tracking server restarted. Points
are queued here and sent in batches (one `log_batch` per run per flush, at most `batch_size` points
each). When the server cannot be reached the points stay: in memory up to `limit`, and, when a
`spill_path` is given (on local disk), in a JSONL file that outlives the process, so a process
that crashes during an outage and starts again with the same file still sends them. (A sweep's
trials journal every tracking operation instead, metrics included: `track.journal`.) Without a
spill file the oldest points are dropped past `limit` and counted in `dropped`.

This module knows nothing about MLflow: the tracker passes a `send(run_id, points)` callable that
raises `Unreachable` for outages and anything else for a batch the server rejected for good.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Point:
    run_id: str
    key: str
    value: float
    step: int
    timestamp: int  # milliseconds since the epoch, taken when the point was produced


class Unreachable(Exception):
    """Raised by `send` when the server cannot be reached; the points are kept and retried."""


Send = Callable[[str, Sequence[Point]], None]


class MetricBuffer:
    def __init__(
        self,
        *,
        limit: int = 100_000,
        spill_path: Optional[str | os.PathLike] = None,
        batch_size: int = 1000,
        retry_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if limit < 1 or batch_size < 1:
            raise ValueError("limit and batch_size must be positive")
        self.limit = limit
        self.spill_path = Path(spill_path) if spill_path is not None else None
        self.batch_size = batch_size
        # After a failed flush, further flushes wait this long, so that during an outage a training
        # loop that logs every few steps is not slowed by a connection attempt per call.
        self.retry_interval_s = retry_interval_s
        self.dropped = 0
        self._clock = clock
        self._memory: deque[Point] = deque()
        self._last_failure: Optional[float] = None
        self._spilled = self._count_spilled()

    # -- queueing ----------------------------------------------------------------------------------

    def add(self, points: Iterable[Point]) -> None:
        self._memory.extend(points)
        overflow = len(self._memory) - self.limit
        if overflow <= 0:
            return
        oldest = [self._memory.popleft() for _ in range(overflow)]
        if self.spill_path is not None:
            self._append_spill(oldest)
        else:
            self.dropped += overflow
            log.warning("metric buffer full (%d points): dropped the %d oldest", self.limit, overflow)

    def pending(self) -> int:
        return len(self._memory) + self._spilled

    def in_outage(self) -> bool:
        return self._last_failure is not None

    # -- sending -----------------------------------------------------------------------------------

    def flush(self, send: Send, *, force: bool = False) -> int:
        """Send everything queued, oldest first; returns how many points are still pending.

        Raises the first non-outage error from `send` after the rest was sent; the rejected
        batch is dropped (it would be rejected again).
        """
        if not self.pending():
            return 0
        if not force and self._waiting():
            return self.pending()
        queue = self._read_spill() + list(self._memory)
        done = [False] * len(queue)
        rejected: Optional[BaseException] = None
        unreachable = False
        for run_id, indices in _by_run(queue).items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                try:
                    send(run_id, [queue[i] for i in chunk])
                except Unreachable:
                    unreachable = True
                    break
                except Exception as err:  # rejected for good: drop it, send the rest, then report
                    log.error("tracking server rejected %d points of run %s: %s", len(chunk), run_id, err)
                    rejected = rejected or err
                for i in chunk:
                    done[i] = True
            if unreachable:
                break
        remaining = [p for p, sent in zip(queue, done) if not sent]
        self._memory.clear()
        if unreachable:
            self._last_failure = self._clock()
            if self.spill_path is not None:
                self._write_spill(remaining)  # durable now: a crash during the outage loses nothing
            else:
                self._memory.extend(remaining)
        else:
            self._last_failure = None
            self._write_spill([])
        if rejected is not None:
            raise rejected
        return self.pending()

    def _waiting(self) -> bool:
        return (
            self._last_failure is not None
            and self._clock() - self._last_failure < self.retry_interval_s
        )

    # -- the spill file ----------------------------------------------------------------------------

    def _count_spilled(self) -> int:
        return len(self._read_spill())

    def _read_spill(self) -> list[Point]:
        if self.spill_path is None or not self.spill_path.exists():
            return []
        points = []
        with open(self.spill_path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    points.append(Point(**json.loads(line)))
                except (ValueError, TypeError):
                    # A line cut short by a crash mid-write: the rest of the file is still good.
                    log.warning("%s:%d: skipped an unreadable buffered metric line", self.spill_path, number)
        return points

    def _append_spill(self, points: list[Point]) -> None:
        assert self.spill_path is not None
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spill_path, "a", encoding="utf-8") as f:
            f.writelines(json.dumps(asdict(p)) + "\n" for p in points)
        self._spilled += len(points)

    def _write_spill(self, points: list[Point]) -> None:
        """Replace the file atomically (temporary file, then rename), or remove it when empty."""
        self._spilled = len(points)
        if self.spill_path is None:
            return
        if not points:
            self.spill_path.unlink(missing_ok=True)
            return
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.spill_path.with_name(self.spill_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(asdict(p)) + "\n" for p in points)
        os.replace(tmp, self.spill_path)


def _by_run(points: list[Point]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault(p.run_id, []).append(i)
    return groups
