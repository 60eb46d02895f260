"""A Ray worker node lost mid-pack, in the process-level multi-node topology (`ray start --head`
with no trial CPUs, two `ray start --address` workers on this host): the node training the pack is
SIGKILLed whole (raylet, object store, the trial's process) after the pack's first checkpoint.
Tune restarts the trial on the other worker from that checkpoint, the same member runs continue,
and every value equals the pack trained without a fault, bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import LocalPack, tiny_spec_text
from mlflow import MlflowClient
from ray_nodes import SameHostCluster

from snapsweep.sweep.lease import LEASE_FILE, read
from snapsweep.sweep.storage import PackStore
from snapsweep.track import Tracker
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

NAME = "lostnode"
STEPS = 300  # checkpoints every 20 steps: the node goes after the first, long before the last
POINTS = list(range(10, STEPS + 1, 10))


def spec_text() -> str:
    text = tiny_spec_text(NAME, methods=("snap1",), steps=STEPS)  # one pack of 4 members
    assert "max_failures: 0" in text
    return text.replace("max_failures: 0", "max_failures: 2")


@pytest.fixture
def three_nodes():
    cluster = SameHostCluster(workers=2, head_cpus=0)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_a_lost_worker_node_costs_nothing(three_nodes, mlflow_server, tmp_path):
    reference = LocalPack(tmp_path / "reference", name=NAME, text=spec_text())
    reference_summary = reference.train()

    path = tmp_path / f"{NAME}.yaml"
    path.write_text(spec_text(), encoding="utf-8")
    storage = tmp_path / "runs"
    pack_dir = storage / NAME / "packs" / reference.pack.id
    command = [sys.executable, "-m", "snapsweep", "run", str(path), "--storage", str(storage),
               "--tracking-uri", mlflow_server.uri, "--address", three_nodes.address]
    log_path = tmp_path / "driver.log"
    with open(log_path, "w") as log:
        driver = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and driver.poll() is None and not PackStore(str(pack_dir)).steps():
            time.sleep(0.2)
        holder = read(str(pack_dir / LEASE_FILE))
        assert driver.poll() is None and holder is not None, log_path.read_text()
        lost = three_nodes.node_of(holder.pid)
        assert lost is not None, f"trial process {holder.pid} is on no worker node"
        assert PackStore(str(pack_dir)).steps()[-1] < STEPS  # mid-pack
        lost.kill()
        driver.wait(timeout=480)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and every process it started
    text = log_path.read_text()
    assert driver.returncode == 0, text
    assert "restarting from its last checkpoint" in text, text
    assert "4/4 trials finished" in text, text

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    exp = client.get_experiment_by_name(NAME)
    members = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")
    by_trial = {m.data.tags[T.TRIAL_ID]: m for m in members}
    assert len(members) == len(by_trial) == 4  # no duplicate runs
    order = [trial.id for trial in reference.pack.trials]
    assert sorted(by_trial) == sorted(order)
    assert {m.info.status for m in members} == {"FINISHED"}
    server = Tracker(mlflow_server.uri)
    histories = reference.histories(tracker=server)
    assert [[step for step, _ in h] for h in histories] == [POINTS] * 4  # every point once
    assert histories == reference.histories()  # bit for bit: the same float32 losses
    assert all(reference.summaries()) and reference.summaries(tracker=server) == reference.summaries()  # same summaries
    assert [row["status"] for row in reference_summary] == ["finished"] * 4
    (parent,) = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'sweep'")
    assert parent.info.status == "FINISHED"
