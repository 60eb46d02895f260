"""The docker-compose cluster for real: images, PostgreSQL, MLflow behind basic auth, a Ray head,
two CPU workers, and one sweep submitted from a container through container-level faults: a Ray
worker container killed mid-pack, the MLflow container restarted, PostgreSQL restarted under
MLflow, and the Ray head stopped (the driver dies with it) and the cluster brought back, then the
same sweep submitted again. Afterwards MLflow must hold exactly one run per trial, all FINISHED,
trained on both workers, each metric history with every logged step exactly once and every value
equal, bit for bit, to the same sweep run on this host without a fault; one FINISHED parent; and a
request without credentials refused.

The steps are those of scripts/cluster-smoke (imported from there, so the script users run and
this test cannot drift apart). Skipped, with the reason, only where no Docker engine can be used
or started. A cold run builds the images (several minutes); the engine caches them for the next.
Each fault waits for the sweep to make progress (new metric points in MLflow) since the last one,
so every fault lands while packs train.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from snapsweep import sweep
from snapsweep.track import tags as T

pytestmark = [pytest.mark.cluster, pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FAULTS_SPEC = "tests/cluster/faults.yaml"
KEY = "train_loss_bits"


@pytest.fixture(scope="module")
def reference(cluster, ray_local, tmp_path_factory) -> dict:
    """Trial id -> (training-loss history, run summary tags) of the faults sweep run on this host's
    local Ray with no fault (after the cluster is up: a machine with no Docker skips both)."""
    root = tmp_path_factory.mktemp("cluster-reference")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = sweep.run(str(ROOT / FAULTS_SPEC), address=ray_local, tracking_uri=uri, storage=str(root / "runs"),
                       progress=False)
    assert result.ok, result.failed
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(result.experiment)
    out = {}
    for run in client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, KEY))
        out[run.data.tags[T.TRIAL_ID]] = (history, T.summary_tags(run.data.tags))
    return out


def wait_for_progress(smoke, cluster, experiment: str, since: dict[str, int], driver: subprocess.Popen,
                      *, timeout_s: float = 300) -> dict[str, int]:
    """Until some member logged a point newer than `since` (MLflow may be away meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        steps = smoke.latest_steps(cluster, experiment, KEY)
        if any(step > since.get(run, -1) for run, step in steps.items() if step >= 0):
            return steps
        if driver.poll() is not None:
            pytest.fail(f"the sweep ended (exit {driver.returncode}) before the fault:\n{driver.stdout.read()[-3000:]}",
                        pytrace=False)
        time.sleep(3)
    pytest.fail(f"no new metric point within {timeout_s:.0f} s", pytrace=False)


@pytest.mark.timeout(3600)  # a cold image build; with cached images the test takes minutes
def test_a_sweep_survives_container_faults(smoke, cluster, reference, capsys, record_property):
    experiment, trials = smoke.expected_trials(FAULTS_SPEC)
    started = time.monotonic()
    driver = subprocess.Popen(smoke.submit_argv(cluster, FAULTS_SPEC), env=cluster.engine.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    faults = []
    try:
        steps = wait_for_progress(smoke, cluster, experiment, {}, driver)
        steps = wait_for_progress(smoke, cluster, experiment, steps, driver)  # past a checkpoint
        cluster.compose("kill", "ray-worker")
        faults.append("worker container killed")
        cluster.compose("up", "-d", "--no-deps", "--no-build", "ray-worker", timeout=300)  # capacity back
        steps = wait_for_progress(smoke, cluster, experiment, steps, driver)
        cluster.compose("restart", "mlflow", timeout=300)
        faults.append("MLflow container restarted")
        steps = wait_for_progress(smoke, cluster, experiment, steps, driver)
        cluster.compose("restart", "postgres", timeout=300)
        faults.append("PostgreSQL restarted")
        steps = wait_for_progress(smoke, cluster, experiment, steps, driver)
        cluster.compose("stop", "ray-head", timeout=300)
        faults.append("Ray head stopped")
        first_exit = driver.wait(timeout=600)
        first_output = driver.stdout.read()
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert first_exit != 0, f"the driver outlived its Ray head:\n{first_output[-3000:]}"

    # Bring the cluster back and submit the same sweep again; a pack whose lease the dead driver's
    # trials still hold (renewed up to a TTL ago) is skipped with a line saying so, and the next
    # submission after the TTL trains it.
    cluster.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "300", timeout=420)
    smoke.wait_for_workers(cluster, 2)
    resubmissions = 0
    while True:
        resubmissions += 1
        output = smoke.submit(cluster, FAULTS_SPEC)
        runs = smoke.read_runs(cluster, experiment)
        if runs.parent["info"]["status"] == "FINISHED" or resubmissions == 3:
            break
        assert "skipped" in output, output[-3000:]
        time.sleep(30)
    wall = time.monotonic() - started
    record_property("cluster_faults_wall_s", round(wall))
    with capsys.disabled():
        print(f"\ncluster faults: {', '.join(faults)}; {trials} trials, {resubmissions} re-submission(s), "
              f"wall time {wall:.0f} s")

    assert runs.parent["info"]["status"] == "FINISHED", output[-3000:]
    assert len(runs.children) == trials  # no duplicate runs
    assert [c["info"]["status"] for c in runs.children] == ["FINISHED"] * trials  # none left RUNNING
    # Every logged step exactly once: 2000 updates logged every 100 (steps 100 ... 2000).
    assert {rid: h.get(KEY) for rid, h in runs.histories.items()} == {
        c["info"]["run_id"]: 20 for c in runs.children}
    # Bit for bit: each trial's losses and summary equal the same sweep trained here without a fault.
    by_trial = {smoke.run_tags(c)[T.TRIAL_ID]: c for c in runs.children}
    assert sorted(by_trial) == sorted(reference)
    for trial, (history, summary) in reference.items():
        child = by_trial[trial]
        assert smoke.metric_history(cluster, child["info"]["run_id"], KEY) == history, trial
        assert T.summary_tags(smoke.run_tags(child)) == summary, trial
    nodes = smoke.worker_nodes_used(cluster, runs)
    assert len(nodes) >= 2  # Ray spread the packs over both workers
    assert smoke.unauthenticated_status(cluster) == 401  # MLflow asks for credentials
    assert smoke.check(runs, trials, nodes, 401) == []  # what scripts/cluster-smoke checks, too
