"""The outage buffer against a real server process that is stopped and restarted (same port, same
database): a trial that crashes during the outage and resumes from its spill file, and one that
keeps its points in memory."""

from __future__ import annotations

import time

import pytest
from mlflow import MlflowClient

from snapsweep.track import MemberLogger, Tracker

pytestmark = pytest.mark.integration


def report(steps, members=2):
    return [{"member": i, "step": s, "metrics": {"train_loss_bits": 10.0 - s / 100, "tokens": 16.0 * s}}
            for s in steps for i in range(members)]


def test_points_logged_during_an_outage_arrive_after_a_restart(mlflow_server_factory, tmp_path):
    server = mlflow_server_factory()
    spill = tmp_path / "checkpoint" / "metrics-buffer.jsonl"
    tracker = Tracker(server.uri, buffer_path=spill, retry_interval_s=0)
    parent = tracker.sweep_run("outage", "s", "h", "x: 1\n")
    runs = [tracker.member_run(parent, f"t{i}", {"seed": i}, {}, provenance_tags={}) for i in range(2)]
    logger = MemberLogger(tracker, runs)
    assert logger(report(range(0, 100))) == 0
    # A second trial process without a spill file: its points wait in memory.
    in_memory = Tracker(server.uri, retry_interval_s=0)
    solo = in_memory.member_run(parent, "solo", {}, {}, provenance_tags={})

    server.stop()
    start = time.monotonic()
    assert logger(report(range(100, 200))) == 400  # 100 steps x 2 keys x 2 members, kept
    assert time.monotonic() - start < 15  # a short retry, not MLflow's minutes-long loop
    assert len(spill.read_text().splitlines()) == 400  # durable while the server is away
    assert in_memory.log_metrics(solo, [("loss", 1.0, s) for s in range(20)]) == 20
    del tracker, logger  # the first trial dies during the outage

    server.start()
    resumed = Tracker(server.uri, buffer_path=spill, retry_interval_s=0)  # resumed from its checkpoint
    assert resumed.pending() == 400
    logger = MemberLogger(resumed, runs)
    assert logger(report(range(200, 250))) == 0  # sends the spilled points, then these
    assert not spill.exists()
    assert in_memory.flush() == 0

    client = MlflowClient(tracking_uri=server.uri)
    for run_id in runs:
        history = client.get_metric_history(run_id, "train_loss_bits")
        assert sorted(m.step for m in history) == list(range(250))
    assert len(client.get_metric_history(solo, "loss")) == 20
    resumed.finish(runs[0])
    assert client.get_run(runs[0]).info.status == "FINISHED"
