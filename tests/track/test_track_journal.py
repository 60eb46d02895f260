"""The tracking journal and its replayer: durable queueing, strict order, exactly once.

The journal on its own (files only), then the replayer against a real `mlflow server` that is
stopped before the first operation and restarted after a simulated crash, and against a crash
between applying operations and recording that they were applied."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from snapsweep.track import Tracker
from snapsweep.track import tags as T
from snapsweep.track.journal import (
    CHECKPOINT_FILE,
    FINISH,
    JOURNAL_FILE,
    METRICS,
    OPEN,
    PROGRESS_FILE,
    TAGS,
    Journal,
)
from snapsweep.track.replay import Replayer


def metrics_op(trial: str, steps) -> dict:
    return {"op": METRICS, "trial": trial,
            "points": [[key, float(s) / (2 if key == "loss" else 1), s, 1000 + s] for s in steps
                       for key in ("status", "loss")]}


# -- the journal on its own -------------------------------------------------------------------------


def test_operations_survive_a_reopen_in_order_and_applied_ones_do_not_come_back(tmp_path):
    journal = Journal(tmp_path / "j")
    journal.append([{"op": OPEN, "trial": "a"}, {"op": TAGS, "trial": "a", "tags": {"x": "1"}}])
    journal.append([metrics_op("a", [10])])
    first = journal.pending()[0]
    journal.done(first, "run-a")
    again = Journal(tmp_path / "j")
    assert [op["op"] for op in again.pending()] == [TAGS, METRICS]
    assert [op["seq"] for op in again.pending()] == [2, 3]
    assert again.runs == {"a": "run-a"}
    for op in again.pending():
        again.done(op)
    assert (tmp_path / "j" / JOURNAL_FILE).read_text() == ""  # started over once all were applied
    (op,) = Journal(tmp_path / "j").append([{"op": TAGS, "trial": "a", "tags": {}}])
    assert op["seq"] == 4  # sequence numbers never go back: nothing new counts as applied


def test_a_line_cut_short_by_a_crash_is_skipped_and_a_lost_progress_file_replays_everything(tmp_path):
    journal = Journal(tmp_path / "j")
    journal.append([metrics_op("a", [10]), metrics_op("a", [20])])
    journal.done(journal.pending()[0])
    with open(tmp_path / "j" / JOURNAL_FILE, "a", encoding="utf-8") as handle:
        handle.write('{"op": "metrics", "trial": "a", "poi')  # a crash mid-append
    assert [op["seq"] for op in Journal(tmp_path / "j").pending()] == [2]
    (tmp_path / "j" / PROGRESS_FILE).unlink()
    assert [op["seq"] for op in Journal(tmp_path / "j").pending()] == [1, 2]


def test_exported_operations_are_absorbed_once(tmp_path):
    worker_a = Journal(tmp_path / "a")
    worker_a.append([{"op": OPEN, "trial": "t"}, metrics_op("t", [10]), metrics_op("t", [20])])
    worker_a.done(worker_a.pending()[0], "run-t")
    checkpoint = tmp_path / "ckpt" / CHECKPOINT_FILE
    checkpoint.parent.mkdir()
    assert worker_a.export(checkpoint) == 2
    worker_b = Journal(tmp_path / "b")  # the pack resumed on another machine
    assert worker_b.absorb(checkpoint) == 2
    assert worker_b.absorb(checkpoint) == 0  # the same checkpoint again: nothing twice
    assert worker_b.runs == {"t": "run-t"}
    assert [op["points"][0][2] for op in worker_b.pending()] == [10, 20]
    assert Journal(tmp_path / "a").absorb(checkpoint) == 0  # back on the first machine
    assert Journal(tmp_path / "c").absorb(tmp_path / "nowhere") == 0
    with pytest.raises(ValueError):
        worker_b.append([{"op": "drop table", "trial": "t"}])


# -- replayed against a real server -----------------------------------------------------------------


def _queue_pack(journal: Journal, trials, artifact, steps=(10, 20, 30), *, opened: bool = False) -> None:
    if not opened:
        journal.append([{"op": OPEN, "trial": t, "params": {"seed": str(i)}, "tags": {T.RUN_NAME: f"m{i}"}}
                        for i, t in enumerate(trials)])
        journal.append([{"op": TAGS, "trial": t, "tags": {T.NODE: "n1"}} for t in trials])
    for step in steps:
        journal.append([metrics_op(t, [step]) for t in trials])
    if artifact is None:
        return
    journal.append([{"op": FINISH, "trial": t, "status": "FINISHED",
                     "summary": {"loss": steps[-1] / 2, "step": steps[-1]},
                     "artifacts": {"final_state": journal.stash(artifact)}, "plot": False} for t in trials])


def _sweep(mlflow_server_factory, tmp_path):
    """A private server with a sweep's parent run -> (server, tracker, parent id, an artifact file)."""
    server = mlflow_server_factory()
    tracker = Tracker(server.uri)
    parent = tracker.sweep_run("journal", "s", "h", "x: 1\n")
    artifact = tmp_path / "state.ckpt"
    artifact.write_bytes(b"weights")
    return server, tracker, parent, artifact


@pytest.mark.integration
def test_a_pack_queued_while_the_server_is_down_arrives_once_after_a_crash(mlflow_server_factory, tmp_path):
    server, tracker, parent, artifact = _sweep(mlflow_server_factory, tmp_path)
    trials = ["t0", "t1"]

    server.stop()
    journal = Journal(tmp_path / "spool")
    replayer = Replayer(Tracker(server.uri, check=False), journal, parent, retry_interval_s=0)
    _queue_pack(journal, trials, artifact)
    artifact.unlink()  # the trial's scratch directory is gone; the journal kept a copy
    total = len(journal.pending())
    assert replayer.pump() == total and replayer.in_outage
    assert not replayer.drain(0, print)
    del journal, replayer  # the trial process dies during the outage

    server.start()
    journal = Journal(tmp_path / "spool")
    assert len(journal.pending()) == total
    replayer = Replayer(Tracker(server.uri, check=False), journal, parent, retry_interval_s=0)
    assert replayer.drain(60, print)
    journal.remove()
    assert not (tmp_path / "spool").exists()

    client = MlflowClient(tracking_uri=server.uri)
    members = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.`{T.PARENT}` = '{parent}'")
    assert sorted(r.data.tags[T.TRIAL_ID] for r in members) == trials  # one run per trial
    for run in members:
        assert run.info.status == "FINISHED"
        assert run.data.tags[T.NODE] == "n1" and run.data.params == {"seed": run.data.tags[T.RUN_NAME][1:]}
        assert run.data.tags[T.FINAL_PREFIX + "loss"] == "15.0"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "status")) == [10, 20, 30]
        assert [a.path for a in client.list_artifacts(run.info.run_id, "final_state")] == ["final_state/state.ckpt"]


@pytest.mark.integration
def test_operations_applied_again_after_a_crash_before_their_record_change_nothing(mlflow_server_factory, tmp_path):
    server, tracker, parent, artifact = _sweep(mlflow_server_factory, tmp_path)
    journal = Journal(tmp_path / "spool")
    _queue_pack(journal, ["t0"], None)
    before = (tmp_path / "spool" / JOURNAL_FILE).read_text()
    assert Replayer(tracker, journal, parent, retry_interval_s=0).pump() == 0
    # Then every record of it is lost: the crash between applying operations and recording them.
    (tmp_path / "spool" / JOURNAL_FILE).write_text(before)
    (tmp_path / "spool" / PROGRESS_FILE).unlink()
    journal = Journal(tmp_path / "spool")
    assert len(journal.pending()) == 5
    # The pack, resumed from its checkpoint at step 10, emits steps 20 and 30 again, then 40, and ends.
    _queue_pack(journal, ["t0"], artifact, steps=(20, 30, 40), opened=True)
    assert Replayer(tracker, journal, parent, retry_interval_s=0).pump() == 0

    client = MlflowClient(tracking_uri=server.uri)
    (run,) = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.`{T.PARENT}` = '{parent}'")
    for key in ("status", "loss"):
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) == [10, 20, 30, 40]
    assert run.info.status == "FINISHED"
