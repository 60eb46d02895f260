"""One pack's training loop without Ray (PackTraining, as a Tune trial runs it), on the embedded
SQLite store: a diverged member ends as a FAILED run that says where it diverged, its pack mate
finishes normally, and `status` tells them apart."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from snapsweep import spec, sweep
from snapsweep.sweep import work
from snapsweep.sweep.trainable import PackTraining, SweepJob
from snapsweep.track import Tracker

pytestmark = pytest.mark.integration

DIVERGES = """\
name: div
task: {kind: copy, batch: 2, max_level: 4}
model: {cell: gru, hidden: 4}
method: {name: snap, mode: online}
optim: {name: sgd}
schedule: {steps: 40, log_every: 10, eval_every: 0, checkpoint_every: 20}
axes:
  lrs: [1.0e-2, 1.0e+30]   # the second overflows within a few updates
"""


def test_diverged_member_run_fails_with_its_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "div.yaml").write_text(DIVERGES)
    sweep_spec = spec.load(tmp_path / "div.yaml")
    tracker = Tracker(None)
    (pack,) = work.build(sweep_spec, work.sweep_paths(sweep_spec, None), set()).packs
    parent = tracker.sweep_run("div", "div", spec.spec_hash(sweep_spec), spec.resolved_yaml(sweep_spec))
    job = SweepJob(sweep="div", experiment="div", spec_hash=spec.spec_hash(sweep_spec), tracking_uri=tracker.uri,
                   parent_run_id=parent, paths=work.sweep_paths(sweep_spec, None), keep_checkpoints=2)
    reports = []
    summary = PackTraining(job, pack, tracker=tracker).run(lambda metrics, ckpt: reports.append((metrics, ckpt)))

    assert [row["status"] for row in summary] == ["finished", "diverged"]
    assert [m["step"] for m, _ in reports] == [20, 40, 40]  # two checkpoints, then the summary
    assert reports[-1][0]["diverged_members"] == 1 and reports[-1][1] is None

    client = MlflowClient(tracking_uri=tracker.uri)
    runs = {r.data.tags["snapsweep.trial_id"]: r for r in client.search_runs(
        [client.get_experiment_by_name("div").experiment_id], "tags.`snapsweep.kind` = 'member'")}
    good, bad = (runs[t.id] for t in pack.trials)
    assert good.info.status == "FINISHED" and good.data.tags["snapsweep.final.diverged"] == "False"
    assert bad.info.status == "FAILED" and bad.data.tags["snapsweep.final.diverged"] == "True"
    at = summary[1]["diverged_at_step"]
    assert bad.data.tags["snapsweep.final.diverged_at_step"] == str(at)

    lines = sweep.status(tmp_path / "div.yaml").splitlines()
    assert lines[0] == "sweep div: 2 trials: 1 finished, 1 diverged"
    assert [line.split()[3:5] for line in lines[4:]] == [["finished", "40"], ["diverged", str(at)]]
