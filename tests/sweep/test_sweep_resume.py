"""An interrupted pack resumes from its checkpoint in a later `sweep.run` and continues the same
MLflow runs, in the embedded default (local Ray started by run(), SQLite MLflow in the working
directory, ./snapsweep-runs).

The interruption: the pack's training loop runs in this process and stops right after publishing
its first checkpoint (step 20 of 40), the way a killed trial would; its member runs stay RUNNING
with metrics up to step 20.
"""

from __future__ import annotations

import glob
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from mlflow import MlflowClient

from snapsweep import spec, sweep
from snapsweep.sweep import work
from snapsweep.sweep.storage import PackStore
from snapsweep.sweep.trainable import PackTraining, SweepJob
from snapsweep.track import Tracker
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration


class Killed(Exception):
    pass


def _stop_after_first_checkpoint(metrics: dict, checkpoint_dir) -> None:
    if checkpoint_dir is not None:
        raise Killed(f"stopped at step {metrics['step']}")


def test_interrupted_pack_resumes_and_continues_its_runs(tmp_path, write_spec, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_spec("resume", methods=("snap1",))  # one pack of 4: 2 lrs x 2 seeds
    sweep_spec = spec.load(path)
    tracker = Tracker(None)
    workload = work.build(sweep_spec, work.sweep_paths(sweep_spec, None), set())
    (pack,) = workload.packs
    parent = tracker.sweep_run("resume", "resume", spec.spec_hash(sweep_spec), spec.resolved_yaml(sweep_spec))
    job = SweepJob(sweep="resume", experiment="resume", spec_hash=spec.spec_hash(sweep_spec),
                   tracking_uri=tracker.uri, parent_run_id=parent, paths=workload.paths, keep_checkpoints=2)
    with pytest.raises(Killed, match="step 20"):
        PackTraining(job, pack, tracker=tracker).run(_stop_after_first_checkpoint)

    store = PackStore(workload.paths.pack_dir(pack.id))
    assert store.steps() == [20]
    run_ids = store.read_index()["run_ids"]
    client = MlflowClient(tracking_uri=tracker.uri)
    assert [m.step for m in client.get_metric_history(run_ids[0], "train_loss_bits")] == [10, 20]
    status = sweep.status(path)
    # The pack's process is gone and holds no lease: its runs are RUNNING in MLflow but stale.
    assert status.splitlines()[0] == "sweep resume: 4 trials: 4 stale (driver gone)"
    rows = [line.split() for line in status.splitlines()[4:]]
    # state (three words), step, checkpoint
    assert [row[3:8] for row in rows] == [["stale", "(driver", "gone)", "20", "20"]] * 4, status

    # The embedded default, as on a laptop: `snapsweep run spec.yaml` in its own process. (Also
    # because Ray 2.60 cannot start a second session in a process whose first one started a local
    # Ray: the next cluster's first actors die before they start; see the report.)
    done = subprocess.run([sys.executable, "-m", "snapsweep", "run", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "1 resumes from a checkpoint" in output
    assert "4/4 trials finished (4 run now)" in output
    assert f"runs: mlflow ui --backend-store-uri sqlite:///{tmp_path}/mlflow.db" in output
    exp = client.get_experiment_by_name("resume")
    members = [r for r in client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")]
    assert sorted(m.info.run_id for m in members) == sorted(run_ids)  # the same runs, continued
    for member in members:
        assert member.info.status == "FINISHED"
        history = client.get_metric_history(member.info.run_id, "train_loss_bits")
        assert [m.step for m in history] == [10, 20, 30, 40]  # steps 21..40 once, nothing repeated
    assert (tmp_path / "snapsweep-runs" / "resume" / "packs" / pack.id).is_dir()
    assert store.steps() == [20, 40]


def _kill_trial_after_first_checkpoint(tune_root, killed: list, stop: threading.Event) -> None:
    """Watch the Tune trial directories; SIGKILL the trial process (the pid in its first result,
    a process this test's sweep started) as soon as it has reported its first checkpoint."""
    while not stop.is_set():
        for result in glob.glob(os.path.join(tune_root, "tune-*", "pack-*", "result.json")):
            with open(result) as handle:
                first = handle.readline()
            if first.strip():
                pid = json.loads(first)["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.05)


def test_a_killed_trial_is_retried_by_tune_from_its_checkpoint(tmp_path, write_spec, mlflow_server, ray_local):
    """Tune's own restore path: FailureConfig(max_failures=1) restarts the killed trial, which
    resumes from tune.get_checkpoint() and continues the same runs without repeating a step."""
    path = write_spec("retry", methods=("snap1",), steps=600)
    path.write_text(path.read_text().replace("max_failures: 0", "max_failures: 1"))
    storage = tmp_path / "runs"
    killed: list = []
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_trial_after_first_checkpoint,
                               args=(str(storage / "retry"), killed, stop), daemon=True)
    watcher.start()
    out = io.StringIO()
    try:
        result = sweep.run(path, address=ray_local, tracking_uri=mlflow_server.uri, storage=str(storage), out=out)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert killed, "the trial finished before it could be killed"
    assert result.ok, (result.failed, out.getvalue())
    assert "restarting from its last checkpoint" in out.getvalue()
    # Restored, not restarted: the steps Tune saw never go back (from scratch they would restart at 20).
    (results,) = glob.glob(str(storage / "retry" / "tune-*" / "pack-*" / "result.json"))
    with open(results) as handle:
        steps = [json.loads(line)["step"] for line in handle if line.strip()]
    assert steps[0] == 20 and steps[-1] == 600
    assert all(a < b for a, b in zip(steps[:-2], steps[1:-1])), steps  # the last is the final summary
    client = MlflowClient(tracking_uri=mlflow_server.uri)
    exp = client.get_experiment_by_name("retry")
    members = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")
    assert len(members) == 4
    for member in members:
        assert member.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(member.info.run_id, "train_loss_bits")]
        assert steps == list(range(10, 601, 10))
