"""Ctrl-C (SIGINT) and SIGTERM to a real `snapsweep run` mid-sweep: exit 130 / 143 with one line
saying how to resume, the runs it held marked KILLED at once, the last good report left as it was;
the next `run` finishes the sweep in the same runs with every metric point once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import tiny_spec_text
from mlflow import MlflowClient

from snapsweep import spec
from snapsweep.sweep import work
from snapsweep.sweep.storage import PackStore
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

STEPS = 400


def _run(command, cwd, log, signum=None, after_step=None, pack_dir=None):
    """Run `snapsweep run`; with `signum`, send it to the driver once the pack has a checkpoint
    past `after_step` -> (exit status, output)."""
    with open(log, "w") as out:
        # As from an interactive terminal: SIGINT at its default (a test runner started in the
        # background inherits it ignored, and Python then never turns it into KeyboardInterrupt).
        driver = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if signum is not None:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and driver.poll() is None:
                steps = PackStore(str(pack_dir)).steps() if pack_dir.is_dir() else []
                if steps and steps[-1] > after_step:
                    break
                time.sleep(0.2)
            assert driver.poll() is None, log.read_text()  # the sweep ended before the signal
            os.kill(driver.pid, signum)
        code = driver.wait(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    return code, log.read_text()


def test_ctrl_c_and_sigterm_stop_the_run_and_a_rerun_finishes_it(tmp_path):
    path = tmp_path / "stop.yaml"
    path.write_text(tiny_spec_text("stop", methods=("snap1",), steps=STEPS), encoding="utf-8")  # one pack of 4
    storage = tmp_path / "runs"
    command = [sys.executable, "-m", "snapsweep", "run", str(path), "--storage", str(storage)]
    report = storage / "stop" / "report" / "report.md"
    report.parent.mkdir(parents=True)
    report.write_text("the last good report\n")
    sweep_spec = spec.load(path)
    (pack,) = work.build(sweep_spec, work.sweep_paths(sweep_spec, str(storage)), set()).packs
    pack_dir = storage / "stop" / "packs" / pack.id

    code, out = _run(command, tmp_path, tmp_path / "sigint.log", signal.SIGINT, 0, pack_dir)
    assert code == 130, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: run: interrupted by SIGINT") and "re-run the same `snapsweep run` command" in last
    assert "Traceback" not in out
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("stop")

    def runs(kind):
        return client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = '{kind}'")

    first_ids = sorted(r.info.run_id for r in runs("member"))
    assert len(first_ids) == 4
    assert [r.info.status for r in runs("member")] == ["KILLED"] * 4
    assert [r.info.status for r in runs("sweep")] == ["KILLED"]
    assert report.read_text() == "the last good report\n"

    reached = PackStore(str(pack_dir)).steps()[-1]
    code, out = _run(command, tmp_path, tmp_path / "sigterm.log", signal.SIGTERM, reached, pack_dir)
    assert code == 143, out
    assert out.strip().splitlines()[-1].startswith("error: run: interrupted by SIGTERM"), out
    assert [r.info.status for r in runs("member")] == ["KILLED"] * 4
    assert report.read_text() == "the last good report\n"

    code, out = _run(command, tmp_path, tmp_path / "finish.log")
    assert code == 0, out
    assert "4/4 trials finished (4 run now)" in out and "1 resumes from a checkpoint" in out
    members = runs("member")
    assert sorted(r.info.run_id for r in members) == first_ids  # the same runs, continued
    for member in members:
        assert member.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(member.info.run_id, "train_loss_bits")]
        assert steps == list(range(10, STEPS + 1, 10))
    assert [r.info.status for r in runs("sweep")] == ["FINISHED"]
    assert report.read_text() != "the last good report\n"  # now rebuilt from the finished sweep
