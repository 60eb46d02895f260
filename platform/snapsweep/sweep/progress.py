"""Compact terminal progress: one line per pack checkpoint, and a heartbeat, instead of Tune's tables.

The heartbeat (at most `HEARTBEAT_S` apart while packs train) says how much is done and when the
rest should be: packs done/total, updates per second over the last interval, and an ETA from the
updates still to run at that rate.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping, Optional, TextIO

from ray import tune

# Metrics worth a glance while a pack trains, in the order shown; the trainable reports each as
# "<name>_min" / "<name>_max" over the pack's members. The one definition of this list.
LIVE_METRICS = ("valid_bpc", "curriculum_level", "train_loss_bits")
HEARTBEAT_S = 20.0


def live_summary(result: Mapping) -> str:
    parts = []
    for name in LIVE_METRICS:
        low, high = result.get(f"{name}_min"), result.get(f"{name}_max")
        if low is None:
            continue
        if high is None or abs(high - low) < 5e-4 * max(1.0, abs(low)):
            parts.append(f"{name} {low:.3g}")
        else:
            parts.append(f"{name} {low:.3g}..{high:.3g}")
    return "  ".join(parts)


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Heartbeat:
    """Packs done/total, updates/s and ETA of a sweep; pure bookkeeping, fed by ProgressPrinter.

    `totals`: pack id -> updates it has to run in total; `starts`: pack id -> update it resumes at.
    """

    def __init__(self, totals: Mapping[str, int], starts: Optional[Mapping[str, int]] = None,
                 clock: Callable[[], float] = time.monotonic):
        self._totals = dict(totals)
        self._steps = {pack: int((starts or {}).get(pack, 0)) for pack in self._totals}
        self._done: set = set()
        self._clock = clock
        self._mark = (clock(), self.steps_done())
        self._rate: Optional[float] = None

    def steps_done(self) -> int:
        return sum(self._steps.values())

    def update(self, pack: str, step: int) -> None:
        if pack in self._steps:
            self._steps[pack] = max(self._steps[pack], int(step))

    def finish(self, pack: str) -> None:
        if pack in self._totals:
            self._done.add(pack)
            self._steps[pack] = self._totals[pack]

    def due(self, interval: float = HEARTBEAT_S) -> bool:
        return self._clock() - self._mark[0] >= interval

    def line(self) -> str:
        now, done = self._clock(), self.steps_done()
        began, before = self._mark
        if now > began and done > before:
            self._rate = (done - before) / (now - began)
        self._mark = (now, done)
        left = sum(self._totals.values()) - done
        rate = f"{self._rate:.3g} updates/s" if self._rate else "no updates yet (compiling)"
        eta = f"ETA {duration(left / self._rate)}" if self._rate else "ETA unknown"
        return f"{len(self._done)}/{len(self._totals)} packs done, {done}/{done + left} updates, {rate}, {eta}"


class ProgressPrinter(tune.Callback):
    """Tune callback (runs in the driver) writing one line per reported checkpoint to `out`, and
    a heartbeat line when nothing was printed for `HEARTBEAT_S` seconds."""

    def __init__(self, out: TextIO, labels: Mapping[str, str], heartbeat: Heartbeat):
        self._out = out
        self._labels = labels  # pack id -> short config label
        self._heartbeat = heartbeat
        self._t0 = time.monotonic()

    def _write(self, text: str) -> None:
        self._out.write(f"[{time.monotonic() - self._t0:6.1f}s] {text}\n")
        self._out.flush()

    def _line(self, trial, text: str) -> None:
        pack = trial.config.get("pack", "?")
        self._write(f"pack {pack} {self._labels.get(pack, '')}: {text}")

    def on_step_end(self, iteration, trials, **info):
        if self._heartbeat.due():
            self._write(self._heartbeat.line())

    def on_trial_start(self, iteration, trials, trial, **info):
        self._line(trial, "started")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("step") is not None:
            self._heartbeat.update(trial.config.get("pack", "?"), result["step"])
        if result.get("done_members") is not None:
            return  # the final summary report; on_trial_complete prints the line
        if result.get("tracking"):  # a trial waiting for the tracking server says so
            self._line(trial, result["tracking"])
            return
        step, steps = result.get("step"), result.get("steps")
        self._line(trial, f"step {step}/{steps}  {live_summary(result)}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        result: Optional[Mapping] = trial.last_result or {}
        self._heartbeat.finish(trial.config.get("pack", "?"))
        diverged = result.get("diverged_members") or 0
        extra = f", {diverged} diverged" if diverged else ""
        self._line(trial, f"done ({result.get('done_members', '?')} members{extra}); {self._heartbeat.line()}")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._line(trial, "failed; restarting from its last checkpoint (retries: spec retries.max_failures)")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._line(trial, "failed (see the trial's error.txt; a re-run resumes it)")
