"""The docker-compose cluster for real: images, PostgreSQL, MLflow behind basic auth, a Ray head,
two CPU workers, the smoke sweep submitted from a container, and what MLflow holds afterwards.

The steps are those of scripts/cluster-smoke (imported from there, so the script users run and
this test cannot drift apart). Skipped, with the reason, only where no Docker engine can be used
or started. A cold run builds the images (several minutes); the engine caches them for the next.
"""

from __future__ import annotations

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
