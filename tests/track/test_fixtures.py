"""The shared server fixtures themselves (tests/conftest.py): other test suites build on them."""

from __future__ import annotations

import urllib.request

import pytest

pytestmark = pytest.mark.integration


def test_mlflow_server_answers_with_its_allowed_hosts(mlflow_server):
    for host in ("127.0.0.1", "localhost"):
        with urllib.request.urlopen(f"http://{host}:{mlflow_server.port}/health", timeout=5) as r:
            assert r.status == 200
    assert mlflow_server.uri == f"http://127.0.0.1:{mlflow_server.port}"
    assert mlflow_server.db.exists()


def test_ray_local_runs_tasks(ray_local):
    import ray

    ray.init(address=ray_local, log_to_driver=False)
    try:
        assert ray.cluster_resources()["CPU"] == 2

        @ray.remote(num_cpus=1)
        def square(x):
            return x * x

        assert ray.get([square.remote(i) for i in range(4)]) == [0, 1, 4, 9]
    finally:
        ray.shutdown()
