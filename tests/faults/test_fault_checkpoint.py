"""Faults in a pack's checkpoints: a garbled or truncated file, and a pack that dies before its
first checkpoint. Each pack is trained in this process (the body of its Tune trial) to the fault,
then again to the end, and compared with the same pack trained without a fault: the final values
equal bit for bit (CPU), and every metric point is in MLflow exactly once."""

from __future__ import annotations

import shutil

import pytest
from conftest import STEPS, Killed, LocalPack, assert_same_as_reference

from snapsweep.train.driver import CHECKPOINT_FILE

pytestmark = pytest.mark.integration

def _garble(path) -> None:
    blob = bytearray(path.read_bytes())
    middle = len(blob) - 64  # inside the payload: only the checksum can notice
    blob[middle:middle + 8] = bytes(b ^ 0xFF for b in blob[middle:middle + 8])
    path.write_bytes(bytes(blob))


def _truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _checkpoint(pack: LocalPack, step: int):
    return pack.root / "runs" / pack.name / "packs" / pack.pack.id / f"step-{step:09d}" / CHECKPOINT_FILE


@pytest.mark.parametrize("damage", [_garble, _truncate], ids=["garbled", "truncated"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capfd, reference, damage):
    pack = LocalPack(tmp_path, steps=STEPS)
    with pytest.raises(Killed):
        pack.train(stop_at=40)
    assert pack.store.steps() == [20, 40]
    newest = _checkpoint(pack, 40)
    damage(newest)
    capfd.readouterr()

    summary = pack.train()
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, err
    assert str(newest) in warnings[0] and ("checksum" in warnings[0] or "truncated" in warnings[0])
    assert "continuing from the checkpoint at step 20" in warnings[1]
    assert "Traceback" not in err and "--resume" not in err
    assert_same_as_reference(pack, summary, reference)


def test_no_good_checkpoint_left_starts_the_pack_over(tmp_path, capfd, reference):
    pack = LocalPack(tmp_path, steps=STEPS)
    with pytest.raises(Killed):
        pack.train(stop_at=40)
    _garble(_checkpoint(pack, 40))
    _truncate(_checkpoint(pack, 20))
    capfd.readouterr()

    summary = pack.train()
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, err
    assert str(_checkpoint(pack, 40)) in warnings[0] and str(_checkpoint(pack, 20)) in warnings[1]
    assert "starting the pack over" in warnings[2]
    assert_same_as_reference(pack, summary, reference)


def test_a_pack_killed_before_its_first_checkpoint_sends_each_point_once(tmp_path, reference):
    """The state a process killed after sending its first points and before its first checkpoint
    leaves behind: member runs RUNNING with points, a pack index, no checkpoint."""
    pack = LocalPack(tmp_path, steps=STEPS)
    with pytest.raises(Killed):
        pack.train(stop_at=20)
    for step in pack.store.steps():
        shutil.rmtree(_checkpoint(pack, step).parent)
    assert pack.store.steps() == []
    assert [[s for s, _ in h] for h in pack.histories()] == [[10, 20]] * 4
    assert pack.member_statuses() == ["RUNNING"] * 4

    assert_same_as_reference(pack, pack.train(), reference)
