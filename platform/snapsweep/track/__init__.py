"""MLflow tracking: run hierarchy, batched logging with an outage buffer, artifacts.

The rest of snapsweep reaches MLflow only through this package:

    tracker = Tracker(uri)                       # None: sqlite:///<cwd>/mlflow.db + <cwd>/mlartifacts
    parent = tracker.sweep_run(experiment, sweep_name, spec_hash, resolved_yaml, tags)
    run_id = tracker.member_run(parent, trial.id, params, trial_tags(trial, spec_hash))
    logger = MemberLogger(tracker, run_ids)       # the trainer's on_metrics callback
    tracker.finish(run_id, "FINISHED", summary, artifacts)

A Tune trial queues the same operations in a `track.journal.Journal` on local disk, applied in
order by a `track.replay.Replayer` whenever the server answers, so an outage never stops training.
"""

from snapsweep.track.buffer import MetricBuffer, Point
from snapsweep.track.client import Tracker
from snapsweep.track.members import MemberLogger
from snapsweep.track.metrics import METRICS, MetricInfo, metric_info
from snapsweep.track.params import flatten
from snapsweep.track.provenance import provenance
from snapsweep.track.records import RunRecord
from snapsweep.track.tags import trial_tags

__all__ = [
    "METRICS",
    "MemberLogger",
    "MetricBuffer",
    "MetricInfo",
    "Point",
    "RunRecord",
    "Tracker",
    "flatten",
    "metric_info",
    "provenance",
    "trial_tags",
]
