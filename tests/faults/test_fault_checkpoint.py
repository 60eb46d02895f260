"""Faults in a pack's checkpoints: a garbled or truncated file, and a pack that dies before its
first checkpoint. Each pack is trained in this process (the body of its Tune trial) to the fault,
then again to the end, and compared with the same pack trained without a fault: the final values
equal bit for bit (CPU), and every metric point is in MLflow exactly once."""

from __future__ import annotations

import shutil

import pytest
from conftest import Killed, LocalPack

from snapsweep.train.driver import CHECKPOINT_FILE

pytestmark = pytest.mark.integration

STEPS = 60  # checkpoints at 20, 40, 60; metric points every 10 steps
POINTS = list(range(10, STEPS + 1, 10))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(summary, train_loss_bits histories) of the pack trained without a fault."""
    pack = LocalPack(tmp_path_factory.mktemp("reference"), steps=STEPS)
    return pack.train(), pack.histories()


def _garble(path) -> None:
    blob = bytearray(path.read_bytes())
    middle = len(blob) - 64  # inside the payload: only the checksum can notice
    blob[middle:middle + 8] = bytes(b ^ 0xFF for b in blob[middle:middle + 8])
    path.write_bytes(bytes(blob))


def _truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _checkpoint(pack: LocalPack, step: int):
    return pack.root / "runs" / pack.name / "packs" / pack.pack.id / f"step-{step:09d}" / CHECKPOINT_FILE


def _assert_same_as_reference(pack: LocalPack, summary, reference) -> None:
    ref_summary, ref_histories = reference
    assert summary == ref_summary  # bit for bit: the same floats
    histories = pack.histories()
    assert [[step for step, _ in h] for h in histories] == [POINTS] * len(histories)  # each point once
    assert histories == ref_histories
    assert pack.member_statuses() == ["FINISHED"] * len(histories)


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
    _assert_same_as_reference(pack, summary, reference)


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
    _assert_same_as_reference(pack, summary, reference)


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

    _assert_same_as_reference(pack, pack.train(), reference)
