"""A `snapsweep run` driver SIGKILLed mid-pack (after its first checkpoint) leaves its member runs
RUNNING: `status` calls them stale (driver gone), since their pack has no live lease; the next
`run` says so and finishes the same runs, each metric point once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import tiny_spec_text
from mlflow import MlflowClient

from snapsweep import spec, sweep
from snapsweep.sweep import work
from snapsweep.sweep.lease import LEASE_FILE, read
from snapsweep.sweep.statuses import live_holder
from snapsweep.sweep.storage import PackStore
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

NAME = "gone"
STEPS = 400


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_driver_leaves_stale_runs_that_a_rerun_finishes(tmp_path, mlflow_server, ray_local):
    path = tmp_path / f"{NAME}.yaml"
    path.write_text(tiny_spec_text(NAME, methods=("snap1",), steps=STEPS), encoding="utf-8")  # one pack of 4
    storage = tmp_path / "runs"
    command = [sys.executable, "-m", "snapsweep", "run", str(path), "--storage", str(storage),
               "--tracking-uri", mlflow_server.uri, "--address", ray_local]
    sweep_spec = spec.load(path)
    (pack,) = work.build(sweep_spec, work.sweep_paths(sweep_spec, str(storage)), set()).packs
    pack_dir = storage / NAME / "packs" / pack.id

    with open(tmp_path / "killed.log", "w") as log:
        driver = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None and not PackStore(str(pack_dir)).steps():
            time.sleep(0.2)
        assert driver.poll() is None, (tmp_path / "killed.log").read_text()
        holder = read(str(pack_dir / LEASE_FILE))
        assert holder is not None and live_holder(str(pack_dir)) == holder
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and every process it started
        driver.wait(timeout=30)
        # Ray ends the trial's worker when its job's driver is gone; the lease names that process.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _gone(holder.pid):
            time.sleep(0.2)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    exp = client.get_experiment_by_name(NAME)

    def members():
        return client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")

    first_ids = sorted(m.info.run_id for m in members())
    assert len(first_ids) == 4 and {m.info.status for m in members()} == {"RUNNING"}
    text = sweep.status(path, tracking_uri=mlflow_server.uri, storage=str(storage))
    assert "4 stale (driver gone)" in text, text
    assert text.count("stale (driver gone)") == 5  # the summary and each trial's row

    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 runs left RUNNING by a driver that is gone (stale); continuing them" in out.stdout
    assert "4/4 trials finished (4 run now)" in out.stdout
    assert sorted(m.info.run_id for m in members()) == first_ids  # the same runs, continued
    for member in members():
        assert member.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(member.info.run_id, "train_loss_bits")]
        assert steps == list(range(10, STEPS + 1, 10))  # every point once
    (parent,) = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'sweep'")
    assert parent.info.status == "FINISHED"
