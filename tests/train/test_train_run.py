"""`train.run`: checkpoints, resume, progress line, metric records, summary."""

import dataclasses
import io
import os
import subprocess
import sys

import pytest

import train_settings as ts
from snapsweep.errors import CheckpointError
from snapsweep.train import CHECKPOINT_FILE, run
from snapsweep.train.progress import ProgressLine


def test_run_checkpoints_and_resumes(tmp_path):
    cfg, members = ts.lm_case()  # the resume test's programs
    cfg = dataclasses.replace(cfg, schedule=ts.schedule(20, log_every=5, eval_every=10, checkpoint_every=10))
    records = []
    first = run(cfg, members, checkpoint_dir=str(tmp_path), on_metrics=records.append, progress=False,
                meta={"run_ids": ["r1"]})
    assert os.path.isfile(tmp_path / CHECKPOINT_FILE)
    assert [r[0]["step"] for r in records] == [5, 10, 15, 20]
    assert {"valid_bpc", "train_loss_bits", "tokens", "tokens_per_s", "trace_bytes", "status"} <= set(records[1][0]["metrics"])
    (row,) = first
    assert set(row) == {"member", "seed", "lr", "status", "steps", "tokens", "diverged_at_step", "train_loss_bits",
                        "valid_bpc"}
    assert row["status"] == "finished" and row["steps"] == 20 and row["valid_bpc"] is not None

    # Resuming a finished run changes nothing; resuming with a longer schedule continues it.
    assert run(cfg, members, checkpoint_dir=str(tmp_path), resume=True, progress=False) == first
    longer = dataclasses.replace(cfg, schedule=ts.schedule(30, log_every=5, eval_every=10, checkpoint_every=10))
    more = []
    (row,) = run(longer, members, checkpoint_dir=str(tmp_path), resume=True, on_metrics=more.append, progress=False)
    assert [r[0]["step"] for r in more] == [25, 30] and row["steps"] == 30


def test_resume_without_a_checkpoint_is_a_checkpoint_error(tmp_path):
    cfg, members = ts.lm_case(steps=20)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        run(cfg, members, checkpoint_dir=str(tmp_path), resume=True, progress=False)
    with pytest.raises(CheckpointError, match="--checkpoint"):
        run(cfg, members, resume=True, progress=False)


def test_progress_line_shows_the_live_metric():
    out = io.StringIO()
    bar = ProgressLine(100, stream=out, interval_s=0.0)
    bar.update([{"member": 0, "step": 50, "metrics": {"curriculum_level": 7.0, "tokens_per_s": 2000.0, "status": 0.0}}])
    bar.update([{"member": 0, "step": 100, "metrics": {"valid_bpc": 2.5, "status": 1.0}}])
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("step 50/100") and "L=7" in lines[0] and "2.0k tok/s" in lines[0]
    assert "bpc=2.500" in lines[1] and "1 diverged" in lines[1]


def test_trainer_imports_no_platform_packages():
    code = ("import sys, snapsweep.train, snapsweep.tasks; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'mlflow', 'pydantic', 'datasets', 'yaml'}); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
