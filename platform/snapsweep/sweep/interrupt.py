"""Ctrl-C and SIGTERM during `run`: stop, mark what was held, say how to resume, exit 130 / 143.

Ray Tune catches SIGINT itself, ends `fit()` early and returns as if the sweep had ended, which made
an interrupted `run` build an empty report over the last good one and exit 0. Inside
`interruptible()` Tune's handler is off (TUNE_DISABLE_SIGINT_HANDLER, read by fit()) and SIGTERM
raises too, so the signal reaches the caller as `Interrupted`; the runs the call held are then
marked KILLED (a re-run reopens and continues them) and nothing else is written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Callable, Iterator

from snapsweep.errors import SnapsweepError


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that nothing between the signal and us swallows it."""


class Interrupted(SnapsweepError):
    """`run` stopped by a signal; exit status 128 + the signal's number (130 SIGINT, 143 SIGTERM)."""

    def __init__(self, signum: int):
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; finished trials and checkpoints are kept, open runs marked KILLED",
                         where="run", fix="re-run the same `snapsweep run` command to resume")
        self.exit_code = 128 + signum


@contextlib.contextmanager
def interruptible(on_interrupt: Callable[[], None]) -> Iterator[None]:
    """Run the body; on SIGINT/SIGTERM call `on_interrupt()` then raise Interrupted."""
    main = threading.current_thread() is threading.main_thread()
    saved_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    saved_term = signal.getsignal(signal.SIGTERM) if main else None

    received = []  # Tune may re-raise what it caught as a plain KeyboardInterrupt: remember the signal

    def terminate(signum, frame):
        received.append(signum)
        raise _Terminated()

    # A process started in the background (or by a runner that ignores SIGINT) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: `kill -INT` would do nothing.
    saved_int = signal.getsignal(signal.SIGINT) if main else None
    if main:
        signal.signal(signal.SIGTERM, terminate)
        if saved_int is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt as stop:
        signum = signal.SIGTERM if received or isinstance(stop, _Terminated) else signal.SIGINT
        # A second signal while marking the runs must not leave them half-marked.
        with _ignoring(signal.SIGINT, signal.SIGTERM, main=main):
            on_interrupt()
        raise Interrupted(signum) from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, saved_term)
            signal.signal(signal.SIGINT, saved_int)
        if saved_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = saved_env


@contextlib.contextmanager
def _ignoring(*signums: int, main: bool) -> Iterator[None]:
    if not main:
        yield
        return
    saved = {s: signal.getsignal(s) for s in signums}
    for s in signums:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def mark_killed(tracker, experiment: str, sweep: str, trial_ids, parent_run_id) -> None:
    """Mark the sweep's RUNNING member runs of `trial_ids`, and the parent run, KILLED. Best effort:
    with the tracking server away they stay RUNNING until a re-run reopens them anyway."""
    wanted = set(trial_ids)
    try:
        for record in tracker.member_runs(experiment, sweep):
            if record.trial_id in wanted and record.status == "RUNNING":
                tracker.finish(record.run_id, "KILLED")
        if parent_run_id is not None:
            tracker.finish(parent_run_id, "KILLED")
    except SnapsweepError:
        pass
