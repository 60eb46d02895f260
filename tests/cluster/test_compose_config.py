"""The compose files, resolved by compose itself (`docker compose config`, no engine needed):
what is published, how MLflow is protected, what waits for what, and that the test override
keeps everything on the host's loopback."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER_FILES = ("docker/compose.yaml",)
TEST_FILES = ("docker/compose.yaml", "docker/compose.test.yaml")
RAY_SERVICES = ("ray-head", "ray-worker", "ray-worker-gpu", "submit")
BINARY: Path  # compose v2, set by the fixture below


@pytest.fixture(scope="module", autouse=True)
def _compose_binary(smoke):
    global BINARY
    BINARY = smoke.compose_binary(smoke.state_dir())


def compose(files, *args, env_file=ROOT / ".env.example"):
    cmd = [str(BINARY), "-p", "snapsweep-config-check"]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    for name in files:
        cmd += ["-f", str(ROOT / name)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@functools.cache
def resolved(files, profiles=("gpu", "submit")) -> dict:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    proc = compose(files, *flags, "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def published(config) -> dict[str, list[dict]]:
    return {name: svc.get("ports", []) for name, svc in config["services"].items() if svc.get("ports")}


def test_only_mlflow_ui_and_ray_dashboard_are_published_on_loopback():
    ports = published(resolved(USER_FILES))
    assert {name: [(p["host_ip"], p["published"], p["target"]) for p in entries] for name, entries in ports.items()} == {
        "mlflow": [("127.0.0.1", "5000", 5000)],
        "ray-head": [("127.0.0.1", "8265", 8265)],
    }
    targets = {p["target"] for entries in ports.values() for p in entries}
    assert not targets & {6379, 10001, 5432, 8076}  # GCS, Ray client, PostgreSQL, object manager


def test_mlflow_runs_with_basic_auth_allowed_hosts_and_proxied_artifacts():
    mlflow = resolved(USER_FILES)["services"]["mlflow"]
    script = " ".join(mlflow["command"])
    for flag in ("--app-name basic-auth", "--allowed-hosts", "--serve-artifacts", "--artifacts-destination"):
        assert flag in script
    env = mlflow["environment"]
    assert env["MLFLOW_ALLOWED_HOSTS"].split(",")[0] == "mlflow:5000"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "change-me-mlflow"  # from the env file, not the compose file
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:change-me-postgres@postgres:5432/")


def test_secrets_are_required_from_the_environment():
    proc = compose(USER_FILES, "config", env_file=None)
    assert proc.returncode != 0
    assert "see .env.example" in proc.stderr
    text = (ROOT / "docker" / "compose.yaml").read_text()
    assert "change-me" not in text


def test_services_wait_for_what_they_need():
    services = resolved(USER_FILES)["services"]
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("ray-worker", "ray-worker-gpu", "submit"):
        assert {k: v["condition"] for k, v in services[name]["depends_on"].items()} == {
            "ray-head": "service_healthy", "mlflow": "service_healthy"}
    for name in ("postgres", "mlflow", "ray-head", "ray-worker", "ray-worker-gpu"):
        assert services[name]["healthcheck"]["test"], name


def test_every_ray_container_shares_the_sweep_storage_at_one_path():
    services = resolved(USER_FILES)["services"]
    for name in RAY_SERVICES:
        mounts = {(v["source"], v["target"]) for v in services[name]["volumes"] if v["type"] == "volume"}
        assert ("sweeps", "/srv/snapsweep") in mounts, name
        assert services[name]["environment"]["SNAPSWEEP_STORAGE"].startswith("/srv/snapsweep/")


def test_gpu_workers_reserve_nvidia_devices_in_their_profile():
    services = resolved(USER_FILES)["services"]
    gpu = services["ray-worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["build"]["args"]["JAX_EXTRA"] == "cuda12"


def test_the_test_override_stays_on_the_host_loopback():
    config = resolved(TEST_FILES, ("submit",))  # what the cluster test starts (no GPU workers)
    assert sorted(config["services"]) == ["mlflow", "postgres", "ray-head", "ray-worker", "ray-worker-2", "submit"]
    assert published(config) == {}
    # No service joins a compose network, so compose creates none (and never a bridge).
    assert all(net.get("external") for net in config.get("networks", {}).values())
    for name, service in config["services"].items():
        assert service["network_mode"] == "host", name
    # Two CPU workers as two services, with disjoint port ranges.
    commands = {name: config["services"][name]["command"] for name in ("ray-head", "ray-worker", "ray-worker-2")}
    ports = [arg for cmd in commands.values() for arg in cmd if arg.isdigit() and len(arg) == 5]
    assert len(ports) == len(set(ports))
    assert all(int(p) < 32768 for p in ports)  # below the ephemeral range other test servers use
    mlflow = config["services"]["mlflow"]["environment"]
    assert mlflow["MLFLOW_HOST"] == "127.0.0.1"
