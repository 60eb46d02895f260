"""`Tracker` against a real `mlflow server`, checked through a plain MlflowClient."""

from __future__ import annotations

import os
import socket
import time
import uuid
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient

from snapsweep.errors import TrackingError
from snapsweep.report import member_figure
from snapsweep.spec.models import WikitextTask
from snapsweep.spec.resolve import task_config
from snapsweep.track import MemberLogger, Tracker, trial_tags
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration


@pytest.fixture
def tracker(mlflow_server):
    return Tracker(mlflow_server.uri)


@pytest.fixture
def client(mlflow_server):
    return MlflowClient(tracking_uri=mlflow_server.uri)


@pytest.fixture
def experiment():
    return f"exp-{uuid.uuid4().hex[:8]}"


def children(client, experiment, parent_id):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")


def test_parent_and_child_runs(tracker, client, experiment):
    parent = tracker.sweep_run(experiment, "lm-small", "hash1", "name: lm-small\nseeds: [0]\n", {"owner": "me"})
    trial = SimpleNamespace(
        id="t-0001",
        pack_key="pack-a",
        label="snap2 gru d=0.25 lr=0.001 seed=0",
        axes={"method": "snap2-offline", "mode": "offline", "cell": "gru", "density": 0.25, "hidden": 128,
              "lr": 0.001, "seed": 0},
        config=SimpleNamespace(task=task_config(WikitextTask(kind="wikitext"))),
    )
    params = {"model": {"cell": "gru", "hidden": 128}, "optim": {"b1": 0.9}, "lr": 0.001, "seed": 0}
    child = tracker.member_run(parent, trial.id, params, trial_tags(trial, "hash1"))

    p = client.get_run(parent)
    assert p.data.tags[T.KIND] == "sweep" and p.data.tags[T.SWEEP] == "lm-small"
    assert p.data.tags[T.SPEC_HASH] == "hash1" and p.data.tags["owner"] == "me"
    assert {a.path for a in client.list_artifacts(parent)} == {"spec.yaml", "specs"}

    c = client.get_run(child)
    assert c.info.experiment_id == p.info.experiment_id
    assert c.info.run_name == "snap2-offline lr=1e-3 s0 gru-h128 d=0.25"  # what differs first
    tags = c.data.tags
    assert tags["mlflow.parentRunId"] == parent
    assert tags[T.TRIAL_ID] == "t-0001" and tags[T.PACK_ID] == "pack-a" and tags[T.SPEC_HASH] == "hash1"
    assert (tags[T.METHOD], tags[T.MODE], tags[T.CELL], tags[T.DENSITY]) == ("snap2-offline", "offline", "gru", "0.25")
    assert tags[T.TASK] == "wikitext" and tags[T.METRIC] == "valid_bpc" and tags[T.SWEEP] == "lm-small"
    # provenance, computed in this process
    assert tags["snapsweep.version"] and tags["snapsweep.jax_version"] and tags["snapsweep.device_kind"]
    assert c.data.params == {"model.cell": "gru", "model.hidden": "128", "optim.b1": "0.9", "lr": "0.001", "seed": "0"}
    assert [r.info.run_id for r in children(client, experiment, parent)] == [child]


def test_rerunning_a_sweep_keeps_its_parent_and_its_trials(tracker, client, experiment):
    parent = tracker.sweep_run(experiment, "copy", "h1", "seeds: [0]\n")
    run = tracker.member_run(parent, "trial-a", {"seed": 0}, {}, provenance_tags={})
    tracker.finish(run, "FAILED")

    # Same sweep name, a spec with an added seed (new hash): same parent, latest hash recorded.
    again = Tracker(tracker.uri)  # a new process after a crash
    assert again.sweep_run(experiment, "copy", "h2", "seeds: [0, 1]\n") == parent
    assert client.get_run(parent).data.tags[T.SPEC_HASH] == "h2"
    assert {a.path for a in client.list_artifacts(parent, "specs")} == {"specs/h1.yaml", "specs/h2.yaml"}

    assert again.member_run(parent, "trial-a", {"seed": 0}, {}, provenance_tags={}) == run
    assert client.get_run(run).info.status == "RUNNING"  # reopened for the retry
    other = again.member_run(parent, "trial-b", {"seed": 1}, {}, provenance_tags={})
    assert other != run
    ids = sorted(r.data.tags[T.TRIAL_ID] for r in children(client, experiment, parent))
    assert ids == ["trial-a", "trial-b"]
    exp = client.get_experiment_by_name(experiment).experiment_id
    assert len(client.search_runs([exp], f"tags.`{T.KIND}` = 'sweep'")) == 1


def test_member_logger_batches_and_writes_full_histories(tracker, client, experiment, monkeypatch):
    parent = tracker.sweep_run(experiment, "pack", "h", "x: 1\n")
    run_ids = [tracker.member_run(parent, f"m{i}", {"seed": i}, {}, provenance_tags={}) for i in range(3)]
    calls: list[tuple[str, int]] = []
    real = MlflowClient.log_batch

    def counting(self, run_id, metrics=(), params=(), tags=(), synchronous=None):
        calls.append((run_id, len(metrics)))
        return real(self, run_id, metrics=metrics, params=params, tags=tags, synchronous=synchronous)

    monkeypatch.setattr(MlflowClient, "log_batch", counting)
    logger = MemberLogger(tracker, run_ids)

    # A small report: one log_batch per member run.
    small = [{"member": i, "step": s, "metrics": {"train_loss_bits": 1.0 / (s + 1), "tokens": 2048 * s}}
             for s in range(1, 11) for i in range(3)]
    assert logger(small) == 0
    assert sorted(calls) == sorted((r, 20) for r in run_ids)

    # A large one: 650 steps x 4 keys = 2600 points per member -> 1000 + 1000 + 600.
    calls.clear()
    big = [{"member": i, "step": s, "metrics": {"train_loss_bits": 1.0 / s, "tokens": 2048 * s,
                                                "valid_bpc": 2.0 + i - s / 1000, "curriculum_level": s // 100,
                                                "status": "ok"}}
           for s in range(11, 661) for i in range(3)]
    assert logger(big) == 0
    metric_calls = [(r, n) for r, n in calls if n]
    assert sorted(metric_calls) == sorted((r, n) for r in run_ids for n in (1000, 1000, 600))

    for i, run_id in enumerate(run_ids):
        assert len(client.get_metric_history(run_id, "train_loss_bits")) == 660
        assert len(client.get_metric_history(run_id, "valid_bpc")) == 650
        history = tracker.metric_history(run_id, "valid_bpc")
        assert history[0] == (11, pytest.approx(2.0 + i - 0.011)) and history[-1][0] == 660
        assert client.get_run(run_id).data.tags[T.LAST_PREFIX + "status"] == "ok"


def test_finish_summary_artifacts_plot_and_queries(tracker, client, experiment, tmp_path):
    parent = tracker.sweep_run(experiment, "fin", "h", "x: 1\n")
    done = tracker.member_run(parent, "done", {"seed": 0}, {}, provenance_tags={})
    failed = tracker.member_run(parent, "failed", {"seed": 1}, {}, provenance_tags={})
    tracker.log_metrics(done, [("valid_bpc", 3.0 - 0.1 * s, s) for s in range(10)]
                        + [("tokens", 2048.0 * s, s) for s in range(10)])
    tracker.log_metrics(done, [("valid_bpc", 2.05, 9)])  # step 9 again: a replay after resume
    extra = tmp_path / "summary.json"
    extra.write_text("{}")
    tracker.finish(done, "FINISHED", {"valid_bpc": 2.05, "diverged": False, "step": 9, "note": "fine"},
                   {"extra": extra}, plot=member_figure)
    tracker.finish(failed, "FAILED")

    run = client.get_run(done)
    assert run.info.status == "FINISHED"
    # The summary is tags, not one-point metrics; valid_bpc's history already ends on 2.05.
    assert set(run.data.metrics) == {"valid_bpc", "tokens"}
    assert run.data.tags["snapsweep.final.valid_bpc"] == "2.05" and run.data.tags["snapsweep.final.diverged"] == "False"
    assert run.data.tags["snapsweep.final.note"] == "fine"
    assert {a.path for a in client.list_artifacts(done)} == {"extra", "plots"}
    assert [a.path for a in client.list_artifacts(done, "plots")] == ["plots/learning_curves.png"]
    png = client.download_artifacts(done, "plots/learning_curves.png", str(tmp_path))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    assert tracker.metric_history(done, "valid_bpc")[-1] == (9, 2.05)
    assert len(tracker.metric_history(done, "valid_bpc")) == 10
    assert tracker.finished_trial_ids(experiment, "fin") == {"done"}
    records = {r.trial_id: r for r in tracker.member_runs(experiment, "fin")}
    assert set(records) == {"done", "failed"}
    assert records["failed"].status == "FAILED"
    assert records["done"].final("valid_bpc") == 2.05 and not records["done"].diverged("valid_bpc")
    assert records["done"].parent_id == parent
    assert tracker.find_sweep_run(experiment, "fin") == parent
    assert tracker.member_runs("no-such-experiment", "fin") == []


def test_unknown_run_is_a_tracking_error(tracker):
    with pytest.raises(TrackingError, match="refused"):
        tracker.log_metrics("0" * 32, [("loss", 1.0, 0)])
    assert tracker.pending() == 0  # not kept: it would be refused again


def test_unreachable_server_fails_fast_with_a_fix():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens once the socket closes
    start = time.monotonic()
    with pytest.raises(TrackingError) as err:
        Tracker(f"http://127.0.0.1:{port}")
    assert time.monotonic() - start < 6
    text = str(err.value)
    assert "\n" not in text and "cannot reach" in text and "fix:" in text


def test_embedded_default_uses_sqlite_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracker = Tracker()
    assert tracker.uri == f"sqlite:///{tmp_path}/mlflow.db"
    parent = tracker.sweep_run("local", "smoke", "h", "x: 1\n")
    run = tracker.member_run(parent, "t", {"seed": 0}, {}, provenance_tags={})
    tracker.log_metrics(run, [("valid_bpc", 2.0, 1)])
    tracker.finish(run)
    assert (tmp_path / "mlflow.db").exists()
    assert list((tmp_path / "mlartifacts").rglob("spec.yaml"))
    assert "MLFLOW_TRACKING_URI" not in os.environ  # no global MLflow state was touched
