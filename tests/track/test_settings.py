"""Settings are read once (snapsweep.settings): flag > spec > environment > embedded default."""

from __future__ import annotations

import os

from snapsweep import settings, spec
from snapsweep.sweep import work
from snapsweep.sweep.storage import resolve_root
from snapsweep.track import Tracker

SPEC = "name: s\ntask: {kind: copy}\nschedule: {steps: 3}\n"


def test_precedence_flag_spec_environment_default():
    env = {settings.TRACKING_ENV: "http://env:5000", settings.RAY_ENV: "10.0.0.1:6379",
           settings.STORAGE_ENV: "s3://bucket/runs"}
    assert settings.tracking_uri("http://flag", "http://spec", env) == "http://flag"
    assert settings.tracking_uri(None, "http://spec", env) == "http://spec"
    assert settings.tracking_uri(None, None, env) == "http://env:5000"
    assert settings.tracking_uri(None, None, {}) is None
    assert settings.ray_address("auto", env) == "auto" and settings.ray_address(None, env) == "10.0.0.1:6379"
    assert settings.ray_address(None, {settings.RAY_ENV: ""}) is None  # empty counts as unset
    assert settings.storage_root(None, None, env) == "s3://bucket/runs"
    assert settings.storage_root(None, "/spec", env) == "/spec"
    assert settings.storage_root(None, None, {}) == settings.DEFAULT_STORAGE


def test_a_set_mlflow_tracking_uri_is_used_by_the_sweep_and_the_tracker(tmp_path, monkeypatch):
    db = tmp_path / "elsewhere.db"
    monkeypatch.setenv(settings.TRACKING_ENV, f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    sweep = spec.load_text(SPEC)
    assert work.tracking_uri_of(sweep, None) == f"sqlite:///{db}"
    tracker = Tracker(work.tracking_uri_of(sweep, None))
    assert tracker.uri == f"sqlite:///{db}" and Tracker().uri == f"sqlite:///{db}"
    parent = tracker.sweep_run("e", "s", "h", SPEC)
    assert db.exists() and not (tmp_path / settings.DEFAULT_DB).exists()
    assert Tracker().find_sweep_run("e", "s") == parent
    # A flag still wins over the environment.
    assert work.tracking_uri_of(sweep, "sqlite:///other.db") == "sqlite:///other.db"


def test_storage_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.STORAGE_ENV, str(tmp_path / "runs"))
    assert resolve_root(None) == str(tmp_path / "runs")
    assert resolve_root("x", None, cwd=str(tmp_path)) == os.path.join(str(tmp_path), "x")
