"""Compact terminal progress: one line per pack checkpoint, instead of Tune's status tables."""

from __future__ import annotations

import time
from typing import Mapping, Optional, TextIO

from ray import tune

# Metrics worth a glance while a pack trains, in the order shown; the trainable reports each as
# "<name>_min" / "<name>_max" over the pack's members.
LIVE_METRICS = ("valid_bpc", "curriculum_level", "train_loss_bits")


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


class ProgressPrinter(tune.Callback):
    """Tune callback (runs in the driver) writing one line per reported checkpoint to `out`."""

    def __init__(self, out: TextIO, labels: Mapping[str, str]):
        self._out = out
        self._labels = labels  # pack id -> short config label
        self._t0 = time.monotonic()

    def _line(self, trial, text: str) -> None:
        pack = trial.config.get("pack", "?")
        elapsed = time.monotonic() - self._t0
        label = self._labels.get(pack, "")
        self._out.write(f"[{elapsed:6.1f}s] pack {pack} {label}: {text}\n")
        self._out.flush()

    def on_trial_start(self, iteration, trials, trial, **info):
        self._line(trial, "started")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result.get("done_members") is not None:
            return  # the final summary report; on_trial_complete prints the line
        step, steps = result.get("step"), result.get("steps")
        self._line(trial, f"step {step}/{steps}  {live_summary(result)}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        result: Optional[Mapping] = trial.last_result or {}
        diverged = result.get("diverged_members") or 0
        extra = f", {diverged} diverged" if diverged else ""
        self._line(trial, f"done ({result.get('done_members', '?')} members{extra})")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._line(trial, "failed; restarting from its last checkpoint (retries: spec retries.max_failures)")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._line(trial, "failed (see the trial's error.txt; a re-run resumes it)")
