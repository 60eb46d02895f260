"""A member that diverges by loss (far above the task's trivial baseline, the spec's
schedule.divergence_factor) at lr 1e3, next to sane pack-mates: it is `diverged` in MLflow (FAILED,
snapsweep.final.diverged), in `status` and in the report; the others finish; the parent run ends
FINISHED (diverged members are results), so the command's status is 0; a re-run trains nothing."""

from __future__ import annotations

import io

import pytest
from conftest import tiny_spec_text
from mlflow import MlflowClient

from snapsweep import sweep
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

NAME = "blowup"


def test_a_member_far_above_the_trivial_loss_is_diverged_and_not_rerun(tmp_path, mlflow_server, ray_local):
    path = tmp_path / f"{NAME}.yaml"
    text = tiny_spec_text(NAME, methods=("snap1",), seeds=(0, 1))  # 4 trials in one pack
    path.write_text(text.replace("lrs: [3.0e-3, 1.0e-2]", "lrs: [1.0e+3, 3.0e-3]"), encoding="utf-8")
    options = dict(address=ray_local, tracking_uri=mlflow_server.uri, storage=str(tmp_path / "runs"))

    first = sweep.run(path, out=io.StringIO(), **options)
    assert first.ok and first.parent_status == "FINISHED", first.failed
    assert (first.ran, first.diverged) == (4, 2)

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    exp = client.get_experiment_by_name(NAME)
    members = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")
    by_lr = sorted((float(m.data.params["lr"]), m.info.status, m.data.tags[T.FINAL_PREFIX + "diverged"])
                   for m in members)
    assert by_lr == [(3e-3, "FINISHED", "False")] * 2 + [(1e3, "FAILED", "True")] * 2
    for member in members:
        if member.info.status == "FAILED":  # stopped at the first log point: 10 updates, no more
            assert member.data.tags[T.FINAL_PREFIX + "diverged_at_step"] == "10"
            assert member.data.tags[T.FINAL_PREFIX + "steps"] == "10"

    table = sweep.status_json(path, tracking_uri=mlflow_server.uri, storage=options["storage"])
    assert table["counts"]["diverged"] == 2 and table["counts"]["finished"] == 2
    assert "2 diverged at other lrs" in first.report_markdown, first.report_markdown  # lr 3e-3 chosen

    again = sweep.run(path, out=io.StringIO(), **options)
    assert again.ok and (again.ran, again.packs_run, again.finished_before) == (0, 0, 4)
    assert len(client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")) == 4
    (parent,) = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'sweep'")
    assert parent.info.status == "FINISHED"
