"""Passwords in tracking URIs never reach what is printed, logged or tagged: a database URI's
password (userinfo or query parameter) is kept only for MLflow's own connection."""

from __future__ import annotations

import io

import pytest

from snapsweep import settings
from snapsweep.errors import TrackingError
from snapsweep.sweep.runner import _tracker
from snapsweep.sweep.storage import SweepPaths
from snapsweep.sweep.trainable import SweepJob
from snapsweep.track import Tracker, connection

SECRET = "hunter2-Zq"
URIS = [
    f"postgresql://bob:{SECRET}@127.0.0.1:9/mlflow",
    f"postgresql+psycopg2://bob:{SECRET.replace('-', '%2D')}@127.0.0.1:9/mlflow",
    f"postgresql://127.0.0.1:9/mlflow?user=bob&password={SECRET}&sslmode=disable",
    f"mysql://bob:{SECRET}@127.0.0.1:9/mlflow",
]


@pytest.mark.parametrize("uri", URIS)
def test_a_database_password_stays_out_of_the_printable_uri(uri):
    target = connection.resolve(uri)
    assert SECRET not in target.uri and "%2D" not in target.uri and "***" in target.uri
    assert target.uri.startswith(uri.split("://")[0] + "://") and "127.0.0.1:9/mlflow" in target.uri
    assert target.store_uri == uri  # what MLflow connects with
    assert SECRET not in repr(target) and SECRET not in settings.redact(uri)
    text = f"could not connect to {uri}: password {SECRET} refused"
    assert SECRET not in connection.scrub(text, target)


@pytest.mark.parametrize("uri", URIS[:1] + URIS[2:3])
def test_a_tracker_that_cannot_open_a_database_says_so_without_the_password(uri):
    with pytest.raises(TrackingError) as err:
        Tracker(uri)  # no database there (nor, here, its driver)
    line = err.value.one_line()
    assert "\n" not in line and line.startswith("tracking: cannot open the tracking store postgresql://")
    assert SECRET not in line and err.value.__cause__ is None


def test_the_sweep_job_does_not_show_the_uri_it_carries():
    uri = URIS[0]
    job = SweepJob(sweep="s", experiment="s", spec_hash="h", tracking_uri=uri, parent_run_id="p",
                   paths=SweepPaths("/x", "s"), keep_checkpoints=1)
    assert job.tracking_uri == uri and SECRET not in repr(job)


def test_waiting_for_an_absent_server_counts_down_then_fails_in_one_line():
    out = io.StringIO()
    with pytest.raises(TrackingError) as err:
        _tracker(f"http://bob:{SECRET}@127.0.0.1:9", 0.5, out)
    assert "cannot reach the MLflow tracking server at http://127.0.0.1:9" in err.value.one_line()
    (line,) = out.getvalue().splitlines()
    assert line.startswith("cannot reach the MLflow tracking server at http://127.0.0.1:9 (")
    assert line.endswith("; waiting for it, 0 s left") or line.endswith("; waiting for it, 1 s left")
    assert SECRET not in out.getvalue() + err.value.one_line()
