"""Sweep pieces that need neither a Ray cluster nor an MLflow server (about 10 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from snapsweep import spec
from snapsweep.errors import ClusterError, SpecError, TrackingError
from snapsweep.sweep import work
from snapsweep.sweep.cluster import Cluster, check_fit
from snapsweep.sweep.resources import TrialResources, trial_env
from snapsweep.sweep.storage import PackStore, SweepPaths, resolve_root, stored_packs
from snapsweep.sweep.trainable import META_FILE, PackTraining, SweepJob


def test_import_is_cheap():
    code = "import sys, snapsweep.sweep; print('ray' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


# -- resources ---------------------------------------------------------------------------------


def test_resources_to_tune_and_env():
    whole = TrialResources(cpu=2, gpu=1, tpu=0)
    assert whole.tune_request() == {"cpu": 2, "gpu": 1}
    assert trial_env(whole, {}) == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}

    share = TrialResources(cpu=1, gpu=0.25, tpu=0)
    env = trial_env(share, {"HF_HUB_OFFLINE": "1", "UNRELATED": "x"})
    assert env == {"XLA_PYTHON_CLIENT_MEM_FRACTION": "0.225", "HF_HUB_OFFLINE": "1"}

    tpu = TrialResources(cpu=1, gpu=0, tpu=4, memory=2 << 30)
    assert tpu.tune_request() == {"cpu": 1, "gpu": 0, "TPU": 4, "memory": 2 << 30}
    assert tpu.ray_names() == {"CPU": 1, "TPU": 4.0, "memory": float(2 << 30)}
    # An exported setting wins over the computed one.
    assert trial_env(share, {"XLA_PYTHON_CLIENT_MEM_FRACTION": ".5"})["XLA_PYTHON_CLIENT_MEM_FRACTION"] == ".5"


def test_check_fit_fails_locally_warns_remotely():
    need_gpu = TrialResources(cpu=1, gpu=1, tpu=0)
    local = Cluster(address=None, started_here=True, nodes=1, resources={"CPU": 2.0})
    with pytest.raises(ClusterError, match="needs 1 GPU but the cluster has 0 GPU"):
        check_fit(local, need_gpu, "/tmp/x")
    remote = Cluster(address="10.0.0.1:6379", started_here=True, nodes=3, resources={"CPU": 8.0})
    notes = check_fit(remote, need_gpu, "/tmp/x")
    assert any("scales up" in n for n in notes)
    assert any("local path but the cluster has 3 nodes" in n for n in notes)
    assert check_fit(remote, TrialResources(cpu=1, gpu=0, tpu=0), "s3://bucket/runs") == []


# -- storage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("as_uri", [False, True])
def test_pack_store_publishes_whole_checkpoints_and_keeps_the_newest(tmp_path, as_uri):
    base = f"file://{tmp_path}/runs" if as_uri else str(tmp_path / "runs")
    store = PackStore(f"{base}/sw/packs/abc", keep=2)
    assert store.steps() == [] and store.read_index() is None
    store.write_index({"pack_id": "abc", "trial_ids": ["t1"]})
    for step in (20, 40, 60):
        local = tmp_path / f"local{step}"
        local.mkdir()
        (local / "state.ckpt").write_bytes(b"x" * step)
        store.commit(str(local), step)
    assert store.steps() == [40, 60]
    fetched = store.fetch(60, str(tmp_path / "back"))
    assert open(os.path.join(fetched, "state.ckpt"), "rb").read() == b"x" * 60
    assert not [p for p in os.listdir(tmp_path / "runs/sw/packs/abc") if p.startswith(".")]  # no partials left
    found = stored_packs(SweepPaths(base, "sw"))
    assert [(s.latest_step(), i["pack_id"]) for s, i in found] == [(60, "abc")]


def test_storage_root_resolution(tmp_path):
    assert resolve_root(None, None, cwd=str(tmp_path)) == str(tmp_path / "snapsweep-runs")
    assert resolve_root(None, "rel/dir", cwd=str(tmp_path)) == str(tmp_path / "rel/dir")
    assert resolve_root("s3://bucket/x/", "ignored") == "s3://bucket/x"


# -- what to run -------------------------------------------------------------------------------


def test_interrupted_pack_is_kept_whole_when_the_spec_grows(tmp_path, write_spec):
    first = spec.load(write_spec("grow"))
    paths = SweepPaths(str(tmp_path / "runs"), "grow")
    plan = work.build(first, paths, set())
    assert plan.plan_line() == "8 trials in 2 packs, 0 finished, 8 to run in 2 packs"
    interrupted = plan.packs[0]
    store = PackStore(paths.pack_dir(interrupted.id))
    store.write_index({"pack_id": interrupted.id, "trial_ids": [t.id for t in interrupted.trials]})
    (tmp_path / "ckpt").mkdir()
    store.commit(str(tmp_path / "ckpt"), 20)

    # One more seed: the other pack's 4 trials finished; the interrupted pack keeps its 4 members
    # (so its checkpoint is used) and the new seed's trials form new packs.
    grown = spec.load(write_spec("grow", seeds=(0, 1, 2)))
    done = {t.id for t in plan.packs[1].trials}
    again = work.build(grown, paths, done)
    assert again.resume_steps == {interrupted.id: 20}
    assert again.packs[0].id == interrupted.id
    assert again.to_run() == 12 - 4
    assert sorted(len(p.trials) for p in again.packs) == [2, 2, 4]  # seed 2 at both lrs, per method
    assert again.plan_line() == "12 trials in 2 packs, 4 finished, 8 to run in 3 packs (1 resumes from a checkpoint)"


def test_restore_prefers_the_newer_of_tune_and_pack_store(tmp_path, write_spec):
    sweep = spec.load(write_spec("restore"))
    paths = SweepPaths(str(tmp_path / "runs"), "restore")
    pack = work.build(sweep, paths, set()).packs[0]
    job = SweepJob(sweep="restore", experiment="restore", spec_hash="h", tracking_uri="sqlite:///unused.db",
                   parent_run_id="p", paths=paths, keep_checkpoints=2)
    training = PackTraining(job, pack, tracker=SimpleNamespace())
    assert training._restore_source(None, str(tmp_path)) is None

    def checkpoint(where, step):
        # A real checkpoint file: restoring verifies its checksum before choosing it.
        import numpy as np

        from snapsweep.train import checkpoint as ckpt
        from snapsweep.train.run import CHECKPOINT_FILE

        os.makedirs(where, exist_ok=True)
        ckpt.save(os.path.join(where, CHECKPOINT_FILE), {"x": np.arange(3.0)}, {"step": step}, "fp")
        with open(os.path.join(where, META_FILE), "w") as handle:
            json.dump({"pack_id": pack.id, "step": step}, handle)
        return where

    training.store.commit(checkpoint(str(tmp_path / "ours"), 40), 40)
    tune_dir = checkpoint(str(tmp_path / "tune20"), 20)
    assert training._restore_source(tune_dir, str(tmp_path)) == training.store.local_path(40)
    tune_dir = checkpoint(str(tmp_path / "tune60"), 60)
    assert training._restore_source(tune_dir, str(tmp_path)) == tune_dir


# -- errors before anything runs ---------------------------------------------------------------


def _ray_running() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def test_spec_error_before_ray(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntask: {kind: copy}\nschedule: {steps: 10, lgo_every: 5}\n")
    from snapsweep import sweep

    with pytest.raises(SpecError) as err:
        sweep.run(bad, progress=False)
    assert "bad.yaml:3" in str(err.value)
    assert not _ray_running()


def test_unreachable_tracking_is_one_line_before_ray(write_spec):
    from snapsweep import sweep

    with pytest.raises(TrackingError) as err:
        sweep.run(write_spec("t"), tracking_uri="http://127.0.0.1:9", progress=False)
    assert "\n" not in str(err.value) and "cannot reach the MLflow tracking server" in str(err.value)
    assert not _ray_running()


def test_unreachable_cluster_is_one_line(tmp_path, write_spec, monkeypatch):
    from snapsweep import sweep

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ClusterError) as err:
        sweep.run(write_spec("c"), address="127.0.0.1:9", progress=False)
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in str(err.value)
    assert not _ray_running()


def test_plan_without_a_tracking_store(tmp_path, write_spec, monkeypatch):
    from snapsweep import sweep

    monkeypatch.chdir(tmp_path)
    text = sweep.plan(write_spec("p")).table()
    assert "8 trials in 2 packs, 0 finished, 8 to run in 2 packs" in text
    assert "cost model: static for CPU" in text
    assert not (tmp_path / "mlflow.db").exists()  # looking does not create a store
    text = sweep.plan(write_spec("p"), tracking_uri="http://127.0.0.1:9").table()
    assert "finished unknown" in text and "cannot reach" in text
