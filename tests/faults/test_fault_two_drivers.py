"""Two `snapsweep run` of the same sweep at once (a job submitted twice, two terminals): each pack
is trained by one of them, the other skips it and says so (the pack lease, sweep/lease.py), and
MLflow ends with one run per trial and every history once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import tiny_spec_text
from mlflow import MlflowClient

from snapsweep.sweep.lease import LEASE_FILE
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

STEPS = 160


def test_two_drivers_on_one_sweep_train_each_pack_once(tmp_path, mlflow_server):
    path = tmp_path / "twice.yaml"
    path.write_text(tiny_spec_text("twice", steps=STEPS), encoding="utf-8")  # 8 trials in 2 packs
    storage = tmp_path / "runs"
    command = [sys.executable, "-m", "snapsweep", "run", str(path), "--storage", str(storage),
               "--tracking-uri", mlflow_server.uri]
    drivers = []
    for i in range(2):
        logs = open(tmp_path / f"driver-{i}.log", "w")
        drivers.append(subprocess.Popen(command, cwd=tmp_path, stdout=logs, stderr=subprocess.STDOUT,
                                        start_new_session=True))
        logs.close()
        time.sleep(3)  # the parent run is found or created by one search and one create: see the docs
    try:
        codes = [driver.wait(timeout=420) for driver in drivers]
    finally:
        for driver in drivers:
            if driver.poll() is None:
                os.killpg(driver.pid, 9)
    outputs = [(tmp_path / f"driver-{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], outputs
    skipped = [line for out in outputs for line in out.splitlines() if "skipped: " in line and line.startswith("pack ")]
    assert skipped, outputs  # the second driver met a pack the first held (or had finished)

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    exp = client.get_experiment_by_name("twice")
    parents = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'sweep'")
    members = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")
    assert len(parents) == 1
    assert len(members) == 8 and len({m.data.tags[T.TRIAL_ID] for m in members}) == 8
    for member in members:
        assert member.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(member.info.run_id, "train_loss_bits")]
        assert steps == list(range(10, STEPS + 1, 10)), member.info.run_id
    assert not list(storage.glob(f"twice/packs/*/{LEASE_FILE}"))  # released
