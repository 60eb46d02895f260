"""What the tracker hands back about a run: plain data, no MLflow types.

Callers (the sweep driver, reports, the CLI) never import mlflow; they get this.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Mapping, Optional

from snapsweep.track import tags as T


def is_finite(value: float) -> bool:
    """False for NaN and infinities, including MLflow's stand-in for infinity: the store keeps
    +-inf as +-sys.float_info.max."""
    return math.isfinite(value) and abs(value) < sys.float_info.max


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    trial_id: Optional[str]
    parent_id: Optional[str]
    status: str  # RUNNING, FINISHED, FAILED, KILLED, SCHEDULED
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    # The latest value of every metric key (MLflow's "latest": highest step, then newest).
    metrics: Mapping[str, float] = field(default_factory=dict)
    start_time: Optional[int] = None  # ms since the epoch
    end_time: Optional[int] = None

    @property
    def ended(self) -> bool:
        """FINISHED, or FAILED because it diverged: a result either way, never trained again
        (what `Tracker.finished_trial_ids` counts)."""
        return self.status == "FINISHED" or (self.status == "FAILED" and self._says_diverged())

    def _says_diverged(self) -> bool:
        return self.tags.get(T.FINAL_PREFIX + "diverged", "").lower() == "true"

    def final(self, key: str) -> Optional[float]:
        """The run's final value of `key`: its summary tag if it has one, else the last logged point."""
        text = self.tags.get(T.FINAL_PREFIX + key)
        if text is not None:
            try:
                return float(text)
            except ValueError:
                pass  # "None": the trainer had no finite value; fall back to the history
        value = self.metrics.get(key)
        return None if value is None else float(value)

    def diverged(self, key: str) -> bool:
        """A run diverged when its summary says so or its final value is not finite."""
        if self._says_diverged():
            return True
        value = self.final(key)
        return value is not None and not is_finite(value)
