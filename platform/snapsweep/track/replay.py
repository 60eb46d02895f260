"""`Replayer`: applies a pack's journal (`track.journal`) to MLflow, strictly in order, once.

Each operation is idempotent, because a crash between applying one and recording it re-applies it:

- open: find-or-create the member run by its trial-id tag (`Tracker.member_run`), reopened when a
  crash left it FAILED/KILLED, missing params added;
- tags: set again to the same values;
- metrics: points at or before the last step MLflow already holds for the run (asked once per run
  per process and again after every outage: a batch the server stored before the connection broke
  is not sent twice), and at or before the last step this process sent for the key, are skipped;
  consecutive metric operations go as one batch per run;
- finish: the summary's extra points are only logged where the history does not end on them,
  artifacts are uploaded to the same paths again, the status is set again.

An operation refused for good (an unknown run, an invalid value) is recorded as applied, so that it
does not block the ones behind it, and raised as a TrackingError once the rest of the pass is done.
When the server is away (a failed health request, a connection error) the pass stops and the
operations wait; further passes wait `retry_interval_s`, so that a trial logging every few steps
does not pay a connection attempt per log point.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Optional

from mlflow.exceptions import MlflowException

from snapsweep.errors import TrackingError
from snapsweep.track.buffer import Point, Unreachable
from snapsweep.track.client import PERMANENT_ERRORS, Plotter, Tracker
from snapsweep.track.journal import FINISH, METRICS, OPEN, TAGS, Journal

log = logging.getLogger(__name__)

# The metric every log, eval and probe point of the trainer carries: its history ends at the last
# step a run's points reached MLflow.
STEP_KEY = "status"
# While waiting for the server at the end of a pack: a line this often, a health request this often.
SAY_EVERY_S = 30.0
POLL_EVERY_S = 2.0

Say = Callable[[str], None]


class Replayer:
    def __init__(self, tracker: Tracker, journal: Journal, parent_run_id: str, *,
                 plot: Optional[Plotter] = None, retry_interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.tracker = tracker
        self.journal = journal
        self.parent_run_id = parent_run_id
        self.plot = plot
        self.retry_interval_s = retry_interval_s
        self._clock = clock
        self._sleep = sleep
        self._last_failure: Optional[float] = None
        self._held: dict[str, int] = {}  # run id -> last step MLflow held when asked
        self._sent: dict[tuple[str, str], int] = {}  # (run id, key) -> last step sent by this process

    def pending(self) -> int:
        return len(self.journal.pending())

    def run_id(self, trial_id: str) -> Optional[str]:
        return self.journal.runs.get(trial_id)

    @property
    def in_outage(self) -> bool:
        return self._last_failure is not None

    # -- passes ------------------------------------------------------------------------------------

    def pump(self, *, force: bool = False) -> int:
        """Apply what is pending unless a recent pass met an outage (`force` tries anyway);
        returns how many operations still wait. Never raises for an outage."""
        if not self.journal.pending():
            return 0
        if not force and self._last_failure is not None and self._clock() - self._last_failure < self.retry_interval_s:
            return self.pending()
        rejected: Optional[TrackingError] = None
        try:
            # In an outage, one short health request first: MLflow's own retries take seconds.
            if self._last_failure is not None and not self.tracker.reachable():
                raise Unreachable(f"the tracking server at {self.tracker.uri} does not answer")
            pending = self.journal.pending()
            while pending:
                # Consecutive metric operations (one per member per log point) go as one batch per
                # run: a backlog of hours is a few requests, not one per log point.
                size = next((i for i, op in enumerate(pending) if op["op"] != METRICS), len(pending)) or 1
                batch, pending = pending[:size], pending[size:]
                try:
                    run_id = self._metrics(batch) if batch[0]["op"] == METRICS else self._apply(batch[0])
                except Exception as err:  # noqa: BLE001 - sorted into outage / refused below
                    if _is_outage(err):
                        raise Unreachable(str(err)) from err
                    rejected = rejected or _refused(batch[0], err, self.tracker)
                    log.error("%s", rejected.one_line())
                    run_id = None
                for op in batch:
                    self.journal.done(op, run_id)
        except Unreachable:
            self._last_failure = self._clock()
            self._held.clear()  # a batch may have reached the store before the connection broke
        else:
            self._last_failure = None
        if rejected is not None:
            raise rejected
        return self.pending()

    def drain(self, wait_s: float, say: Say) -> bool:
        """Apply everything, waiting up to `wait_s` for an absent server, with a line every
        ~30 s saying so; True when nothing is left."""
        start = self._clock()
        said = None
        while self.pump(force=True):
            now = self._clock()
            left = wait_s - (now - start)
            if left <= 0:
                return False
            if said is None or now - said >= SAY_EVERY_S:
                say(f"tracking server at {self.tracker.uri} unreachable: {self.pending()} operations queued "
                    f"in {self.journal.directory}; waiting for it ({left:.0f} s left)")
                said = now
            self._sleep(min(POLL_EVERY_S, left))
        return True

    # -- one operation -----------------------------------------------------------------------------

    def _apply(self, op: dict) -> Optional[str]:
        """Apply one open, tags or finish operation -> the run id an open resolved to, else None."""
        kind, trial = op["op"], op["trial"]
        if kind == OPEN:
            return self.tracker.member_run(self.parent_run_id, trial, op.get("params") or {}, op.get("tags") or {})
        run_id = self._run_of(trial)
        if kind == TAGS:
            self.tracker.set_tags(run_id, op["tags"])
        elif kind == FINISH:
            artifacts = {}
            for where, path in (op.get("artifacts") or {}).items():
                if os.path.exists(path):
                    artifacts[where] = path
                else:  # a journal carried to another machine in a checkpoint leaves its files behind
                    log.warning("run %s: artifact %s is gone; finishing without it", run_id, path)
            self.tracker.finish(run_id, op["status"], op.get("summary"), artifacts,
                                plot=self.plot if op.get("plot") else None)
        return None

    def _run_of(self, trial: str) -> str:
        run_id = self.journal.runs.get(trial)
        if run_id is None:  # opened by a journal this one did not inherit the run ids of
            run_id = self.tracker.find_member(self.parent_run_id, trial)
            if run_id is None:
                raise TrackingError(f"no member run of trial {trial} under run {self.parent_run_id}",
                                    where="tracking", fix="the trial's open operation was refused; see above")
            self.journal.runs[trial] = run_id
        return run_id

    def _metrics(self, ops: list[dict]) -> None:
        """Send the points of consecutive metric operations, one batch per run, in step order."""
        sent = dict(self._sent)  # committed only once every batch went
        fresh: dict[str, list[Point]] = {}
        for op in ops:
            run_id = self._run_of(op["trial"])
            if run_id not in self._held:
                history = self.tracker.metric_history(run_id, STEP_KEY)
                self._held[run_id] = history[-1][0] if history else -1
            held = self._held[run_id]
            points = [Point(run_id, key, float(value), int(step), int(stamp))
                      for key, value, step, stamp in op["points"]
                      if int(step) > held and int(step) > sent.get((run_id, key), -1)]
            for p in points:
                sent[(run_id, p.key)] = max(sent.get((run_id, p.key), -1), p.step)
            fresh.setdefault(run_id, []).extend(points)
        refused: Optional[Exception] = None
        for run_id, points in fresh.items():
            if not points:
                continue
            try:
                # Stable sort: a batch cut short keeps whole early steps, not scattered ones.
                self.tracker.send_metrics(run_id, sorted(points, key=lambda p: p.step))
            except Exception as err:  # noqa: BLE001 - an outage stops the pass; a refusal spares the other runs
                if _is_outage(err):
                    raise
                refused = refused or err
        self._sent = sent
        if refused is not None:
            raise refused


def _is_outage(err: BaseException) -> bool:
    """Connection trouble or a server-side failure (worth retrying), not a refused request."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, (Unreachable, OSError, ConnectionError, TimeoutError)):
            return True
        if isinstance(err, MlflowException):
            return err.error_code not in PERMANENT_ERRORS
        err = err.__cause__ or err.__context__
    return False


def _refused(op: dict, err: BaseException, tracker: Tracker) -> TrackingError:
    what = err.one_line() if isinstance(err, TrackingError) else f"{type(err).__name__}: {err}"
    return TrackingError(f"the {op['op']} operation of trial {op['trial']} was refused: {tracker.scrub(what)}",
                         where="tracking", fix="see the tracking server's log; the pack's other operations went on")
