"""Two drivers opening the parent run of one sweep at the same moment (each finds none, each
creates one): both end with the same parent, and one parent run is left."""

from __future__ import annotations

import threading
import uuid

import pytest
from mlflow import MlflowClient

from snapsweep.track import Tracker
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration


def test_two_drivers_racing_for_the_parent_run_keep_one(mlflow_server):
    experiment = f"race-{uuid.uuid4().hex[:8]}"
    trackers = [Tracker(mlflow_server.uri) for _ in range(2)]
    for tracker in trackers:  # the experiment exists; the race is on the parent run
        tracker.experiment_id(experiment)
    both_searched = threading.Barrier(2)
    found = {}
    errors = []

    def drive(i: int) -> None:
        tracker = trackers[i]
        search = tracker._find_sweep
        calls = []

        def search_then_wait(*args):
            result = search(*args)
            calls.append(result)
            if len(calls) == 1:
                both_searched.wait(timeout=30)  # both have searched (and found none) before either creates
            return result

        tracker._find_sweep = search_then_wait
        try:
            found[i] = tracker.sweep_run(experiment, "race", "hash", "name: race\n")
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert found[0] == found[1]

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    exp = client.get_experiment_by_name(experiment)
    parents = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'sweep'")
    assert [p.info.run_id for p in parents] == [found[0]]
    assert parents[0].info.status == "RUNNING" and parents[0].data.tags[T.SWEEP] == "race"
