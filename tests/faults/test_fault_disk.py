"""A full disk and read-only storage, made for real: a small tmpfs mounted for the test (filled to
the last page for ENOSPC, remounted read-only for EROFS) and unmounted at its end.

- `snapsweep run` with such a `--storage` stops before anything starts: a non-zero exit, one line
  on stderr naming the path, no traceback, no run left RUNNING;
- a sweep pack whose storage fills up after its first checkpoint fails at the next write with one
  line naming the checkpoint, keeps the checkpoint it had, and once there is room again finishes
  with the same values as a pack that never met the fault (bit for bit, each metric point once);
- `snapsweep train` meeting a full disk fails at its first write the same way; its checkpoints stay.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import STEPS, LocalPack, assert_same_as_reference, tiny_spec_text
from mlflow import MlflowClient
# The pack trained without a fault, and the comparison with it, of the checkpoint fault tests.

from snapsweep.errors import StorageError
from snapsweep.sweep.trainable import PackTraining
from snapsweep.train.checkpoint import verify
from snapsweep.train.driver import CHECKPOINT_FILE

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def _tmpfs(path: Path, size: str = "8m", *, read_only: bool = False):
    """A tmpfs of `size` at `path` for the block (read-only when asked), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: a genuinely full or read-only filesystem needs a tmpfs mount")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not permitted'}); a genuinely "
                    "full or read-only filesystem needs one (root or CAP_SYS_ADMIN)")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(directory: Path) -> Path:
    """Write a file until the filesystem has no page left -> its path (delete it to make room)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * (1 << 16))
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_run_on_unwritable_storage_stops_before_anything_starts(tmp_path, mlflow_server, fault):
    name = f"disk-{fault}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(tiny_spec_text(name, methods=("snap1",), seeds=(0,), steps=20), encoding="utf-8")
    with _tmpfs(tmp_path / "mnt", "1m", read_only=fault == "read-only") as mnt:
        if fault == "full":
            _fill(mnt)
        storage = mnt / "deep" / "runs"  # not there yet: the directory it would be made in is probed
        out = subprocess.run([sys.executable, "-m", "snapsweep", "run", str(path), "--storage", str(storage),
                              "--tracking-uri", mlflow_server.uri], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
        line = _one_error_line(out.stderr)
        assert out.returncode == StorageError.exit_code, out.stdout + out.stderr
        why = "the filesystem is read-only" if fault == "read-only" else "no space left on the device"
        assert line.startswith(f"error: {mnt}: cannot write to the sweep storage: {why} (fix: "), line
        assert "--storage" in line
        assert sorted(p.name for p in mnt.iterdir()) == ([] if fault == "read-only" else ["filler"])

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id]) if experiment is not None else []
    assert [r for r in runs if r.info.status == "RUNNING"] == []  # no parent or member run was opened
    assert runs == []


def test_a_pack_whose_storage_fills_up_keeps_its_checkpoint_and_finishes_later(tmp_path, reference):
    with _tmpfs(tmp_path / "runs", "8m") as storage:  # LocalPack's sweep storage is <root>/runs
        pack = LocalPack(tmp_path, steps=STEPS)
        fillers = []

        def report(metrics: dict, checkpoint_dir) -> None:
            if checkpoint_dir is not None and metrics["step"] == 20:  # published: now the disk is full
                fillers.append(_fill(storage))

        with pytest.raises(StorageError) as info:
            PackTraining(pack.job, pack.pack, tracker=pack.tracker).run(report)
        line = info.value.one_line()
        assert line.startswith(f"{pack.store.checkpoint_uri(40)}: cannot write a checkpoint: no space left"), line
        assert "--storage" in line
        (kept,) = [pack.store.checkpoint_uri(20) + "/" + CHECKPOINT_FILE]
        assert pack.store.steps() == [20] and verify(kept)["meta"]["step"] == 20  # nothing lost
        assert not [p for p in Path(pack.store.uri).iterdir() if p.name.startswith(".partial-")]

        # Still full: a re-run stops before training, at its first write.
        with pytest.raises(StorageError, match="cannot write the pack index: no space left"):
            pack.train()

        fillers[0].unlink()
        summary = pack.train()
    assert_same_as_reference(pack, summary, reference)


def test_train_meeting_a_full_disk_fails_at_its_first_write_and_keeps_its_checkpoints(tmp_path):
    def train(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "snapsweep", "train", "--task", "copy", "--hidden", "4",
                               "--method", "snap1", "--batch", "2", "--log-every", "10", "--checkpoint-every", "10",
                               "--checkpoint", str(directory), "--quiet", *extra],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    with _tmpfs(tmp_path / "mnt", "4m") as mnt:
        directory = mnt / "ckpt"
        first = train("--steps", "20")
        assert first.returncode == 0, first.stderr
        newest, previous = directory / CHECKPOINT_FILE, directory / (CHECKPOINT_FILE + ".prev")
        before = {p: verify(str(p))["payload_sha256"] for p in (newest, previous)}
        filler = _fill(mnt)

        failed = train("--steps", "40", "--resume")
        line = _one_error_line(failed.stderr)
        assert failed.returncode == StorageError.exit_code
        assert line.startswith(f"error: {newest}: cannot write a checkpoint: no space left on the device"), line
        assert {p: verify(str(p))["payload_sha256"] for p in (newest, previous)} == before  # nothing lost
        assert sorted(p.name for p in directory.iterdir()) == [CHECKPOINT_FILE, CHECKPOINT_FILE + ".prev"]

        filler.unlink()
        again = train("--steps", "40", "--resume")
        assert again.returncode == 0, again.stderr
        assert verify(str(newest))["meta"]["step"] == 40 and verify(str(previous))["meta"]["step"] == 30
