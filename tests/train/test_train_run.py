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


def test_progress_shows_compiling_then_rate_elapsed_and_eta():
    now = [100.0]
    out = io.StringIO()
    bar = ProgressLine(1000, stream=out, interval_s=0.0, use_tqdm=False, clock=lambda: now[0])
    bar.compiling()
    now[0] = 130.0
    bar.start(200)  # resumed at step 200 after 30 s of compilation
    now[0] = 140.0
    bar.update([{"member": 0, "step": 400, "metrics": {"train_loss_bits": 1.25, "status": 0.0}}])
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("compiling")
    assert lines[1] == "compiled in 30.0 s; training from step 200"
    # 200 steps in 10 s: 20 steps/s, 600 steps left: 30 s.
    assert lines[2].startswith("step 400/1000") and "elapsed 0:10" in lines[2] and "20 steps/s" in lines[2]
    assert "ETA 0:30" in lines[2] and "loss=1.250" in lines[2]


def test_durations_read_as_clock_times():
    from snapsweep.train.progress import duration

    assert [duration(s) for s in (0, 59.6, 61, 3600 + 62)] == ["0:00", "1:00", "1:01", "1:01:02"]


def test_trainer_imports_no_platform_packages():
    code = ("import sys, snapsweep.train, snapsweep.tasks; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'mlflow', 'pydantic', 'datasets', 'yaml'}); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_settings_driver_and_task_protocol_load_no_jax():
    code = ("import sys, snapsweep.train.config, snapsweep.train.driver, snapsweep.tasks.config, "
            "snapsweep.tasks.info, snapsweep.tasks.protocol; print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
