"""A real `snapsweep run` with every kind of secret set (MLflow password in the URI and in the
environment, a PostgreSQL URI with its password, a Ray token, cloud credentials), then a search of
everything it produced for each secret: printed output, every file under the sweep storage, Ray's
session directory (its logs included), the MLflow server's database, artifact store and log, and
every run's params, tags and artifacts through MlflowClient. Any hit names the file it is in."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sweep"))

from sweep_specs import tiny_spec_text  # noqa: E402

pytestmark = pytest.mark.integration

NAME = "secrets"
URI_PASSWORD = "uriPw-7f3a91c2"
SECRETS = {
    "MLFLOW_TRACKING_USERNAME": None,  # a name, not a secret: set so the env password is a real pair
    "MLFLOW_TRACKING_PASSWORD": "envPw-0b5d22e8",
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": "awsSecret-4c8e61f0",
    "AWS_SESSION_TOKEN": "awsToken-9a1b7d33",
    "AZURE_STORAGE_ACCESS_KEY": "azureKey-55e0c4aa",
    "PGPASSWORD": "pgPw-2d9f0e17",
    # Ray uses this token for its own authentication (token mode, a local ray.init's default).
    "RAY_AUTH_TOKEN": "rayToken-e64c08b2d1f94a7f8c3b5e2a9d0c1f67",
}
PG_PASSWORD = "pgUriPw-81c6a3d5"
PLAIN = {"MLFLOW_TRACKING_USERNAME": "erin", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"}


def _needles() -> dict[str, bytes]:
    """Every secret value, and the Basic-auth header forms of the two MLflow passwords."""
    out = {name: value.encode() for name, value in SECRETS.items() if value}
    out["password in the tracking URI"] = URI_PASSWORD.encode()
    out["PostgreSQL URI password"] = PG_PASSWORD.encode()
    for user, password in (("alice", URI_PASSWORD), ("erin", SECRETS["MLFLOW_TRACKING_PASSWORD"])):
        out[f"Basic auth of {user}"] = base64.b64encode(f"{user}:{password}".encode())
    return out


def _hits(blob: bytes, where: str, needles: dict[str, bytes]) -> list[str]:
    return [f"{name} in {where}" for name, needle in needles.items() if needle in blob]


def _search_tree(root: Path, needles: dict[str, bytes]) -> tuple[list[str], int]:
    """-> (hits, number of files read) over every regular file under `root`."""
    hits, read = [], 0
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue  # sockets, pipes and links: no content of their own
        try:
            blob = path.read_bytes()
        except OSError:
            continue
        read += 1
        hits += _hits(blob, str(path), needles)
    return hits, read


def _search_tracking(uri: str, scratch: Path, needles: dict[str, bytes]) -> tuple[list[str], int]:
    """-> (hits, runs seen): params, tags, names of every run and experiment, and every artifact
    downloaded through the client."""
    client = MlflowClient(tracking_uri=uri)
    hits, runs = [], 0
    for exp in client.search_experiments():
        hits += _hits(repr((exp.name, exp.tags)).encode(), f"experiment {exp.name}", needles)
        for run in client.search_runs([exp.experiment_id], max_results=1000):
            runs += 1
            where = f"run {run.info.run_id} ({run.info.run_name})"
            hits += _hits(repr(run.data.params).encode(), f"{where} params", needles)
            hits += _hits(repr(run.data.tags).encode(), f"{where} tags", needles)
            hits += _hits(repr(run.info).encode(), f"{where} info", needles)
            target = scratch / run.info.run_id
            target.mkdir(parents=True)
            if client.list_artifacts(run.info.run_id):
                client.download_artifacts(run.info.run_id, "", str(target))
            found, _ = _search_tree(target, needles)
            hits += [f"{where} artifact {hit}" for hit in found]
    return hits, runs


def test_a_sweep_with_secrets_set_stores_and_prints_none_of_them(tmp_path, mlflow_server_factory):
    server = mlflow_server_factory()  # private: its database and artifacts hold this sweep only
    spec_path = tmp_path / f"{NAME}.yaml"
    spec_path.write_text(tiny_spec_text(NAME, methods=("snap1",), seeds=(0,), steps=20), encoding="utf-8")
    storage = tmp_path / "runs"
    host = server.uri.split("://", 1)[1]
    # A short private directory: Ray's socket paths must stay under 107 characters.
    ray_tmp = Path(tempfile.mkdtemp(prefix="ssray-", dir="/tmp"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "RAY_AUTH_MODE")},
        **{k: v for k, v in SECRETS.items() if v}, **PLAIN,
        "MLFLOW_BACKEND_STORE_URI": f"postgresql://mlflow:{PG_PASSWORD}@db.internal:5432/mlflow",
        "DATABASE_URL": f"postgresql://mlflow:{PG_PASSWORD}@db.internal:5432/mlflow",
        "RAY_TMPDIR": str(ray_tmp),
    }
    uri = f"http://alice:{URI_PASSWORD}@{host}"
    try:
        run = subprocess.run([sys.executable, "-m", "snapsweep", "run", str(spec_path), "--storage", str(storage),
                              "--tracking-uri", uri], cwd=tmp_path, env=env, capture_output=True, timeout=600)
        assert run.returncode == 0, (run.stdout + run.stderr).decode(errors="replace")[-4000:]
        assert b"2/2 trials finished" in run.stdout
        status = subprocess.run([sys.executable, "-m", "snapsweep", "status", str(spec_path), "--storage",
                                 str(storage), "--tracking-uri", uri], cwd=tmp_path, env=env, capture_output=True,
                                timeout=300)
        assert status.returncode == 0, (status.stdout + status.stderr).decode(errors="replace")[-4000:]

        needles = _needles()
        hits = []
        for name, blob in (("run stdout", run.stdout), ("run stderr", run.stderr),
                           ("status stdout", status.stdout), ("status stderr", status.stderr)):
            hits += _hits(blob, name, needles)
        sessions = list((ray_tmp / "ray").glob("session_*"))
        assert sessions, f"no Ray session under {ray_tmp}"
        counts = {}
        for label, root in (("storage", storage), ("ray", ray_tmp), ("mlflow server", server.root)):
            found, counts[label] = _search_tree(root, needles)
            hits += found
        found, runs = _search_tracking(server.uri, tmp_path / "downloaded", needles)
        hits += found
        # What was searched is what the sweep made: its checkpoints, Ray's logs, the member and
        # sweep runs with their artifacts.
        assert counts["storage"] > 0 and counts["mlflow server"] > 0 and runs == 3
        assert list((ray_tmp / "ray").glob("session_*/logs/*")), "Ray wrote no logs to search"
        assert hits == [], "\n".join(hits)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
