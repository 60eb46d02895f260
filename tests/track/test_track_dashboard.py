"""What the MLflow UI shows of a sweep, read back through a plain MlflowClient from a real server:
one `method` parameter, the grid on the parent, run names that start with what differs, the
standard source/commit/user/description fields, summaries without one-point metrics, and an
experiment that opens as model training."""

from __future__ import annotations

import getpass
import os
import uuid

import pytest
from mlflow import MlflowClient

from snapsweep import spec
from snapsweep.sweep.trainable import member_params
from snapsweep.track import Tracker, trial_tags
from snapsweep.track import tags as T
from snapsweep.track.provenance import provenance

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = os.path.join(ROOT, "sweeps", "smoke.yaml")


@pytest.fixture(scope="module")
def sweep(mlflow_server):
    sweep = spec.load(SMOKE)
    trials = spec.expand(sweep)
    tracker = Tracker(mlflow_server.uri)
    experiment = f"dash-{uuid.uuid4().hex[:8]}"
    parent = tracker.sweep_run(experiment, sweep.name, spec.spec_hash(sweep), spec.resolved_yaml(sweep),
                               {"snapsweep.spec_path": SMOKE})
    first = trials[0]
    child = tracker.member_run(parent, first.id, member_params(first), trial_tags(first, "h"))
    return tracker, MlflowClient(tracking_uri=mlflow_server.uri), experiment, parent, child, trials


def test_the_experiment_opens_as_model_training(sweep):
    _, client, experiment, *_ = sweep
    assert client.get_experiment_by_name(experiment).tags[T.EXPERIMENT_KIND] == "custom_model_development"


def test_one_method_parameter_in_the_registry_grammar(sweep):
    _, client, _, _, child, trials = sweep
    params = client.get_run(child).data.params
    assert params["method"] == trials[0].axes["method"] == "bptt-offline"
    assert not [k for k in params if k.startswith("method.")]
    assert params["lr"] == "0.003" and params["seed"] == "0" and params["model.cell"] == "gru"


def test_the_grid_is_the_parents_parameters(sweep):
    _, client, _, parent, _, trials = sweep
    params = client.get_run(parent).data.params
    assert params["sweep.method"] == "bptt-offline,snap1-online,snap2-online,uoro-online"
    assert params["sweep.lr"] == "0.003,0.01" and params["sweep.seed"] == "0,1"
    assert params["sweep.trials"] == str(len(trials)) == "16"


def test_run_names_start_with_what_differs(sweep):
    _, client, _, _, child, trials = sweep
    t = trials[0]
    assert client.get_run(child).info.run_name == f"bptt-offline lr=3e-3 s0 gru-h8 d=0.5"
    assert T.run_name(trials[5].axes).startswith(f"{trials[5].axes['method']} lr=")
    assert T.short_number(10 ** -2.5) == "3.16e-3" and T.short_number(0.5) == "0.5"
    assert t.id in client.get_run(child).data.tags[T.NOTE]


def test_standard_fields(sweep):
    _, client, _, parent, child, _ = sweep
    commit = provenance(device=False).get("snapsweep.git_commit")
    for run_id in (parent, child):
        tags = client.get_run(run_id).data.tags
        assert tags[T.SOURCE_NAME] == SMOKE and tags[T.USER] == getpass.getuser()
        assert client.get_run(run_id).info.user_id == getpass.getuser()
        if commit:
            assert tags[T.SOURCE_GIT_COMMIT] == commit


def test_summary_is_tags_and_the_last_point(sweep):
    tracker, client, _, parent, _, trials = sweep
    run = tracker.member_run(parent, trials[1].id, member_params(trials[1]), trial_tags(trials[1], "h"),
                             provenance_tags={})
    tracker.log_metrics(run, [("curriculum_level", 2.0, 100), ("curriculum_level", 3.0, 200)])
    tracker.finish(run, "FINISHED", {"curriculum_level": 4, "steps": 300, "step": 300, "diverged": False,
                                     "train_loss_bits": None, "tokens_per_s": 1.25})
    data = client.get_run(run).data
    assert set(data.metrics) == {"curriculum_level"}  # no final.* keys; tokens_per_s was never a curve
    assert [(m.step, m.value) for m in client.get_metric_history(run, "curriculum_level")] == \
        [(100, 2.0), (200, 3.0), (300, 4.0)]
    assert data.tags["snapsweep.final.steps"] == "300" and data.tags["snapsweep.final.tokens_per_s"] == "1.25"
    assert "snapsweep.final.train_loss_bits" not in data.tags
    record = tracker.run(run)
    assert record.final("curriculum_level") == 4.0 and record.final("tokens_per_s") == 1.25
    assert not record.diverged("curriculum_level")
