"""Helpers of the fault tests: the sweep tests' tiny specs (tests/sweep/sweep_specs.py), and one
pack trained in this process with its own tracking store and sweep storage, so that a fault can be
injected between two of its checkpoints and the outcome compared with an uninterrupted pack."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sweep"))

import pytest
from mlflow import MlflowClient  # noqa: E402
from sweep_specs import tiny_spec_text  # noqa: E402

from snapsweep import spec  # noqa: E402
from snapsweep.sweep import work  # noqa: E402
from snapsweep.sweep.storage import PackStore  # noqa: E402
from snapsweep.sweep.trainable import PackTraining, SweepJob  # noqa: E402
from snapsweep.track import Tracker  # noqa: E402
from snapsweep.track import tags as T  # noqa: E402

__all__ = ["POINTS", "STEPS", "Killed", "LocalPack", "assert_same_as_reference", "tiny_spec_text"]


class Killed(Exception):
    """What the test raises to stop a pack the way a killed process stops."""


@dataclass
class LocalPack:
    """The one pack of a one-pack spec in `root`: SQLite MLflow at root/mlflow.db, storage root/runs."""

    root: Path
    name: str = "faults"
    steps: int = 60
    text: str | None = None  # the spec's text, when not the tiny one-pack spec of `name` and `steps`

    def __post_init__(self):
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{self.name}.yaml"
        text = self.text or tiny_spec_text(self.name, methods=("snap1",), steps=self.steps)
        path.write_text(text, encoding="utf-8")
        self.spec_path = path
        self.spec = spec.load(path)
        self.tracker = Tracker(f"sqlite:///{self.root / 'mlflow.db'}")
        self.workload = work.build(self.spec, work.sweep_paths(self.spec, str(self.root / "runs")), set())
        (self.pack,) = self.workload.packs
        self.store = PackStore(self.workload.paths.pack_dir(self.pack.id))
        digest = spec.spec_hash(self.spec)
        parent = self.tracker.sweep_run(self.name, self.name, digest, spec.resolved_yaml(self.spec))
        self.job = SweepJob(sweep=self.name, experiment=self.name, spec_hash=digest, tracking_uri=self.tracker.uri,
                            parent_run_id=parent, paths=self.workload.paths, keep_checkpoints=2)

    def train(self, stop_at: int | None = None) -> list[dict]:
        """Train (or continue) the pack; `stop_at`: raise Killed right after the checkpoint at that step."""

        def report(metrics: dict, checkpoint_dir) -> None:
            if stop_at is not None and checkpoint_dir is not None and metrics["step"] == stop_at:
                raise Killed(f"stopped at step {stop_at}")

        return PackTraining(self.job, self.pack, tracker=self.tracker).run(report)

    def histories(self, key: str = "train_loss_bits", tracker: Tracker | None = None) -> list[list[tuple[int, float]]]:
        """Every point `tracker` (default: the pack's own store) holds for `key`, per member run of
        this sweep (trial order), duplicates included."""
        tracker = tracker or self.tracker
        client = MlflowClient(tracking_uri=tracker.uri)
        by_trial = {r.trial_id: r.run_id for r in tracker.member_runs(self.name, self.name)}
        return [[(m.step, m.value) for m in sorted(client.get_metric_history(by_trial[t.id], key),
                                                  key=lambda m: (m.step, m.timestamp))]
                for t in self.pack.trials]

    def summaries(self, tracker: Tracker | None = None) -> list[dict]:
        """The run summary tags of each member run of this sweep in `tracker` (trial order)."""
        by_trial = {r.trial_id: r for r in (tracker or self.tracker).member_runs(self.name, self.name)}
        return [T.summary_tags(by_trial[t.id].tags) for t in self.pack.trials]

    def member_statuses(self) -> list[str]:
        return sorted(r.status for r in self.tracker.member_runs(self.name, self.name))


STEPS = 60  # checkpoints at 20, 40, 60; metric points every 10 steps
POINTS = list(range(10, STEPS + 1, 10))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(summary, train_loss_bits histories) of the pack trained without a fault."""
    pack = LocalPack(tmp_path_factory.mktemp("reference"), steps=STEPS)
    return pack.train(), pack.histories()


def assert_same_as_reference(pack: LocalPack, summary, reference) -> None:
    ref_summary, ref_histories = reference
    assert summary == ref_summary  # bit for bit: the same floats
    histories = pack.histories()
    assert [[step for step, _ in h] for h in histories] == [POINTS] * len(histories)  # each point once
    assert histories == ref_histories
    assert pack.member_statuses() == ["FINISHED"] * len(histories)
