"""A tiny sweep end to end on a real Ray head and a real `mlflow server`, then re-run and grown.

One module-scoped sweep (8 trials in 2 packs) is shared by the tests here; the re-run and the grown
spec run in one test, in that order, because each changes what the next one finds.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient
from sweep_specs import tiny_spec_text

from snapsweep import spec, sweep
from snapsweep.rtrl import registry
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

NAME = "tiny"


@pytest.fixture(scope="module")
def tiny(mlflow_server, ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-sweep")
    path = root / f"{NAME}.yaml"
    path.write_text(tiny_spec_text(NAME), encoding="utf-8")
    options = dict(address=ray_local, tracking_uri=mlflow_server.uri, storage=str(root / "runs"))
    out = io.StringIO()
    result = sweep.run(path, out=out, **options)
    return SimpleNamespace(root=root, path=path, options=options, result=result, output=out.getvalue(),
                           client=MlflowClient(tracking_uri=mlflow_server.uri))


def _runs(client: MlflowClient, experiment: str = NAME):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], "", max_results=1000)
    parents = [r for r in runs if r.data.tags.get(T.KIND) == T.KIND_SWEEP]
    members = [r for r in runs if r.data.tags.get(T.KIND) == T.KIND_MEMBER]
    return parents, members


def test_sweep_runs_every_trial(tiny):
    r = tiny.result
    assert r.ok, r.failed
    assert (r.trials, r.finished_before, r.ran, r.packs_run, r.diverged) == (8, 0, 8, 2, 0)
    assert "sweep tiny: 8 trials in 2 packs, 0 finished, 8 to run in 2 packs" in tiny.output
    assert "step 20/40" in tiny.output and "step 40/40" in tiny.output  # per-pack progress
    assert "8/8 trials finished" in tiny.output
    assert f"runs: {tiny.options['tracking_uri']}" in tiny.output


def test_mlflow_holds_parent_and_member_runs_with_histories(tiny):
    parents, members = _runs(tiny.client)
    assert len(parents) == 1 and len(members) == 8
    parent = parents[0]
    assert parent.info.run_id == tiny.result.parent_run_id
    assert parent.data.tags[T.SWEEP] == NAME
    trial_ids = {t.id for t in spec.expand(spec.load(tiny.path))}
    assert {m.data.tags[T.TRIAL_ID] for m in members} == trial_ids
    for member in members:
        assert member.data.tags[T.PARENT] == parent.info.run_id
        assert member.info.status == "FINISHED"
        steps = [m.step for m in tiny.client.get_metric_history(member.info.run_id, "train_loss_bits")]
        assert steps == [10, 20, 30, 40]
        assert member.data.tags["snapsweep.final.steps"] == "40"
        assert member.data.params["model.hidden"] == "4"
        artifacts = {a.path for a in tiny.client.list_artifacts(member.info.run_id)}
        assert {"plots", "final_state"} <= artifacts
    parent_artifacts = {a.path for a in tiny.client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.md" in parent_artifacts


def test_final_state_artifact_loads_as_a_one_member_trainer(tiny, tmp_path):
    from snapsweep.train import Trainer

    trial = spec.expand(spec.load(tiny.path))[0]
    _, members = _runs(tiny.client)
    run = next(m for m in members if m.data.tags[T.TRIAL_ID] == trial.id)
    local = tiny.client.download_artifacts(run.info.run_id, "final_state/state.ckpt", str(tmp_path))
    state, meta = Trainer(trial.config, [trial.member]).load(local)
    assert meta == {"trial_id": trial.id, "run_id": run.info.run_id}
    assert int(state.clock[0]) == 40


def test_report_table_has_a_cell_per_method(tiny):
    md = tiny.result.report_markdown
    assert "| method | gru d=1 |" in md
    labels = [registry.parse(name).label for name in ("bptt-offline", "snap1-online")]
    assert labels == ["BPTT (offline)", "SnAp-1 (online)"]
    assert all(f"| {label} |" in md for label in labels)
    report_dir = tiny.root / "runs" / NAME / "report"
    assert (report_dir / "report.md").read_text() == md
    assert (report_dir / "report.csv").exists()


def test_rerun_skips_finished_and_a_grown_spec_runs_only_new_trials(tiny):
    out = io.StringIO()
    again = sweep.run(tiny.path, out=out, **tiny.options)
    assert (again.ran, again.packs_run, again.finished_before) == (0, 0, 8)
    assert "8 finished, 0 to run" in out.getvalue()
    assert again.parent_run_id == tiny.result.parent_run_id
    parents, members = _runs(tiny.client)
    assert (len(parents), len(members)) == (1, 8)
    before = {m.data.tags[T.TRIAL_ID]: m.info.run_id for m in members}

    grown = tiny.root / "grown.yaml"
    grown.write_text(tiny_spec_text(NAME, seeds=(0, 1, 2)), encoding="utf-8")
    out = io.StringIO()
    more = sweep.run(grown, out=out, **tiny.options)
    assert more.ok, more.failed
    # Seed 2 at two learning rates for each of two methods: 4 new trials in 2 packs of 2.
    assert (more.trials, more.finished_before, more.ran, more.packs_run) == (12, 8, 4, 2)
    assert "12 trials in 2 packs, 8 finished, 4 to run in 2 packs" in out.getvalue()
    parents, members = _runs(tiny.client)
    assert (len(parents), len(members)) == (1, 12)
    after = {m.data.tags[T.TRIAL_ID]: m.info.run_id for m in members}
    assert {k: after[k] for k in before} == before  # the old runs are untouched
    assert all(m.info.status == "FINISHED" for m in members)

    status = sweep.status(grown, tracking_uri=tiny.options["tracking_uri"], storage=tiny.options["storage"])
    assert status.splitlines()[0] == "sweep tiny: 12 trials: 12 finished"
    plan = sweep.plan(grown, tracking_uri=tiny.options["tracking_uri"], storage=tiny.options["storage"])
    assert "12 trials in 2 packs, 12 finished, 0 to run" in plan.table()
