"""A sweep on a two-node same-host cluster whose only TPU (a fake custom resource) is on the worker
node: the trial asks for it, so it can only run there."""

from __future__ import annotations

import io

import pytest
from ray_nodes import SameHostCluster

from snapsweep import sweep

pytestmark = pytest.mark.integration


@pytest.fixture
def two_nodes():
    cluster = SameHostCluster(worker_gpus=1, worker_resources={"TPU": 1})
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_trial_needing_a_tpu_runs_on_the_node_that_has_one(two_nodes, write_spec, mlflow_server, tmp_path):
    path = write_spec("tpu", methods=("snap1",), seeds=(0,), resources="cpu: 1\ntpu: 1")
    out = io.StringIO()
    with pytest.warns(UserWarning, match="local path but the cluster has 2 nodes"):
        result = sweep.run(path, address=two_nodes.address, tracking_uri=mlflow_server.uri,
                           storage=str(tmp_path / "runs"), out=out)
    text = out.getvalue()
    assert result.ok, (result.failed, text)
    assert (result.ran, result.packs_run) == (2, 1)
    assert f"Ray at {two_nodes.address}: 2 nodes, 2 CPU, 1 GPU, 1 TPU; each pack gets 1 cpu, 1 tpu" in text
    assert "2/2 trials finished" in text
