"""Secrets stay secret and specs stay data: MLflow credentials in the URI or the environment never
reach printed lines, stored params and tags or the resolved spec; specs execute no code; names
cannot climb out of the storage root."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from snapsweep import cli, settings, spec
from snapsweep.errors import ConfigError, SpecError, TrackingError
from snapsweep.sweep.storage import SweepPaths
from snapsweep.track import Tracker

SECRET = "s3cret-Pa55"
SPEC = "name: sec\ntask: {kind: copy}\nschedule: {steps: 1}\n"


@pytest.fixture
def clean_credentials(monkeypatch):
    # Recorded so that whatever the code under test exports is undone afterwards.
    monkeypatch.setenv(settings.USERNAME_ENV, "")
    monkeypatch.setenv(settings.PASSWORD_ENV, "")


def test_credentials_come_out_of_the_uri():
    uri = f"http://alice:{SECRET}@mlflow.internal:5000/prefix"
    clean, creds = settings.split_credentials(uri)
    assert clean == "http://mlflow.internal:5000/prefix" and (creds.username, creds.password) == ("alice", SECRET)
    assert SECRET not in repr(creds) and settings.redact(uri) == "http://***@mlflow.internal:5000/prefix"
    assert settings.split_credentials("http://host:5000") == ("http://host:5000", None)
    # The URI's credentials win over the environment's; without them the environment's are used.
    env = {settings.USERNAME_ENV: "bob", settings.PASSWORD_ENV: "env-pw"}
    assert settings.tracking_credentials(uri, env).username == "alice"
    assert settings.tracking_credentials("http://host:5000", env) == settings.Credentials("bob", "env-pw")
    assert settings.tracking_credentials("http://host:5000", {}) is None


def test_the_tracker_uses_uri_credentials_and_stores_no_secret(mlflow_server, clean_credentials):
    host = mlflow_server.uri.split("://", 1)[1]
    tracker = Tracker(f"http://alice:{SECRET}@{host}")
    assert tracker.uri == mlflow_server.uri
    import os

    # MLflow's client reads its credentials from these (here, an open server ignores them).
    assert (os.environ[settings.USERNAME_ENV], os.environ[settings.PASSWORD_ENV]) == ("alice", SECRET)
    run_id = tracker.sweep_run("sec-exp", "sec", "h", SPEC)
    run = MlflowClient(mlflow_server.uri).get_run(run_id)
    stored = repr(run.data.params) + repr(run.data.tags) + repr(run.info)
    assert SECRET not in stored and "alice" not in stored


def test_an_unreachable_server_error_never_prints_the_password(clean_credentials, capsys, tmp_path, monkeypatch):
    with pytest.raises(TrackingError) as info:
        Tracker(f"http://alice:{SECRET}@127.0.0.1:9", check_timeout_s=1)
    assert SECRET not in info.value.one_line() and "127.0.0.1:9" in info.value.one_line()
    with pytest.raises(ConfigError) as info:
        settings.check_tracking_uri(f"http://alice:{SECRET}@127.0.0.1:0")
    assert SECRET not in info.value.one_line()
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    assert cli.main(["plan", str(path), "--tracking-uri", f"http://alice:{SECRET}@127.0.0.1:9"]) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "unknown" in out.out


def test_the_resolved_spec_and_its_hash_hold_no_credentials():
    secret = spec.load_text(SPEC + f"tracking: {{uri: 'http://alice:{SECRET}@host:5000'}}\n")
    plain = spec.load_text(SPEC + "tracking: {uri: 'http://host:5000'}\n")
    assert spec.spec_hash(secret) == spec.spec_hash(plain)
    for text in (spec.resolved_yaml(secret), repr(secret), secret.model_dump_json(), str(secret.model_dump())):
        assert SECRET not in text
    assert "http://host:5000" in spec.resolved_yaml(secret)
    # The credentials are still there for the tracker to take out.
    assert settings.tracking_credentials(secret.tracking.uri).password == SECRET


def test_specs_never_execute_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for tag in ("!!python/object/apply:os.system", "!!python/name:os.system", "!!python/object/new:os.system"):
        with pytest.raises(SpecError, match="is not allowed"):
            spec.load_text(SPEC + f"description: {tag} ['touch executed']\n")
    assert not (tmp_path / "executed").exists()


@pytest.mark.parametrize("name", ["..", "../up", "a/b", "a\\b", "a\0b", "", "."])
def test_sweep_names_cannot_leave_the_storage_root(name):
    with pytest.raises(ConfigError, match="not a plain directory name"):
        SweepPaths("/storage", name)
    with pytest.raises(SpecError, match="name"):
        spec.load_text(SPEC.replace("name: sec", f"name: {name!r}"))


@pytest.mark.parametrize("experiment", ["..", "../up", "a/b", "a\\\\b", "a\\0b"])
def test_experiment_names_cannot_be_paths(experiment):
    with pytest.raises(SpecError, match="tracking.experiment|control character"):
        spec.load_text(SPEC + f'tracking: {{experiment: "{experiment}"}}\n')
