"""The docker-compose cluster for real: images, PostgreSQL, MLflow behind basic auth, a Ray head,
two CPU workers, the smoke sweep submitted from a container, and what MLflow holds afterwards;
then container-level faults injected into a second sweep on the same cluster.

The steps are those of scripts/cluster-smoke (imported from there, so the script users run and
this test cannot drift apart). Skipped, with the reason, only where no Docker engine can be used
or started. A cold run builds the images (several minutes); the engine caches them for the next.
"""

from __future__ import annotations

import subprocess
import time

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.integration, pytest.mark.slow]

SPEC = "sweeps/smoke.yaml"


@pytest.mark.timeout(3600)  # a cold image build; with cached images the test takes minutes
def test_smoke_sweep_on_the_compose_cluster(smoke, cluster, capsys, record_property):
    experiment, trials = smoke.expected_trials(SPEC)
    started = time.monotonic()
    try:
        smoke.submit(cluster, SPEC)
        runs = smoke.read_runs(cluster, experiment)
        nodes = smoke.worker_nodes_used(cluster, runs)
        unauthenticated = smoke.unauthenticated_status(cluster)
    except smoke.CheckFailed as err:
        pytest.fail(str(err), pytrace=False)
    wall = time.monotonic() - started
    record_property("cluster_wall_s", round(wall))
    with capsys.disabled():
        print(f"\ncluster test: {trials} trials on {len(nodes)} worker nodes, sweep wall time {wall:.0f} s")

    assert runs.parent["info"]["status"] == "FINISHED"
    assert len(runs.children) == trials
    assert [c["info"]["status"] for c in runs.children] == ["FINISHED"] * trials
    assert all(max(runs.histories[c["info"]["run_id"]].values(), default=0) >= 2 for c in runs.children)
    assert len(nodes) >= 2
    assert unauthenticated == 401
    assert smoke.check(runs, trials, nodes, unauthenticated) == []


# Container-level faults on the compose cluster, one sweep through all of them: a Ray worker
# container killed mid-pack, the MLflow container restarted, PostgreSQL restarted under MLflow, and
# the Ray head stopped (the driver dies with it) and the cluster brought back, then the same sweep
# submitted again. Afterwards MLflow must hold exactly one run per trial, all FINISHED, each metric
# history with every logged step exactly once, and one FINISHED parent.
#
# Each fault waits for the sweep to make progress (new metric points in MLflow) since the last
# one, so every fault lands while packs train.

FAULTS_SPEC = "tests/cluster/faults.yaml"
KEY = "train_loss_bits"


def latest_steps(smoke, cluster, experiment: str) -> dict[str, int]:
    """Member run id -> the step of its newest training-loss point (one search request); empty
    while MLflow (or PostgreSQL under it) is away."""
    try:
        return _latest_steps(smoke, cluster, experiment)
    except OSError:  # connection refused or reset: the fault under test
        return {}


def _latest_steps(smoke, cluster, experiment: str) -> dict[str, int]:
    status, data = smoke._get(f"{cluster.mlflow_uri}/api/2.0/mlflow/experiments/get-by-name?experiment_name="
                              f"{experiment}", ("admin", cluster.password))
    if status != 200:
        return {}
    body = {"experiment_ids": [data["experiment"]["experiment_id"]], "max_results": 100}
    status, data = smoke._get(f"{cluster.mlflow_uri}/api/2.0/mlflow/runs/search", ("admin", cluster.password), body)
    if status != 200:
        return {}
    steps = {}
    for run in data.get("runs", []):
        if smoke.run_tags(run).get("snapsweep.kind") == "sweep":
            continue
        points = [m for m in run["data"].get("metrics", []) if m["key"] == KEY]
        steps[run["info"]["run_id"]] = int(points[0]["step"]) if points else -1
    return steps


def wait_for_progress(smoke, cluster, experiment: str, since: dict[str, int], driver: subprocess.Popen,
                      *, timeout_s: float = 300) -> dict[str, int]:
    """Until some member logged a point newer than `since` (MLflow may be away meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        steps = latest_steps(smoke, cluster, experiment)
        if any(step > since.get(run, -1) for run, step in steps.items() if step >= 0):
            return steps
        if driver.poll() is not None:
            pytest.fail(f"the sweep ended (exit {driver.returncode}) before the fault:\n{driver.stdout.read()[-3000:]}",
                        pytrace=False)
        time.sleep(3)
    pytest.fail(f"no new metric point within {timeout_s:.0f} s", pytrace=False)


@pytest.mark.timeout(1800)
def test_a_sweep_survives_container_faults(smoke, cluster, capsys, record_property):
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
