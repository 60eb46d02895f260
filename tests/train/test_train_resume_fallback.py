"""`snapsweep train --resume` with a damaged newest checkpoint: `train` keeps the previous good
checkpoint beside the newest (state.ckpt.prev), falls back to it with one warning line, and the
resumed run ends with the same state as an uninterrupted one, bit for bit on the CPU."""

import os

import jax
import numpy as np
import pytest

import train_settings as ts
from snapsweep.errors import CheckpointError
from snapsweep.train import CHECKPOINT_FILE, Trainer, run
from snapsweep.train.checkpoint import verify
from snapsweep.train.run import PREVIOUS_SUFFIX

STEPS, EVERY = 30, 10  # checkpoints at 10, 20, 30


class Killed(Exception):
    """Raised from the metrics callback: training stops the way a killed process stops."""


def _config():
    return ts.copy_config(method="snap", n=1, hidden=8, steps=STEPS, log_every=EVERY, checkpoint_every=EVERY)


MEMBERS = ts.members((0, 1e-2), (1, 3e-3))


def _train(directory, *, resume=False, stop_after=None):
    """`stop_after`: raise Killed at the first metric record past that step (after its checkpoint)."""

    def on_metrics(records):
        if stop_after is not None and records[0]["step"] > stop_after:
            raise Killed(f"stopped after step {stop_after}")

    return run(_config(), MEMBERS, checkpoint_dir=str(directory), resume=resume, progress=False,
               on_metrics=on_metrics)


def _step(path) -> int:
    return verify(str(path))["meta"]["step"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """(checkpoint directory, summary) of the run trained without a fault."""
    directory = tmp_path_factory.mktemp("straight")
    return directory, _train(directory)


def _params(path):
    state, _ = Trainer(_config(), MEMBERS).load(str(path))
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(state.params)]


def test_the_previous_checkpoint_is_kept_beside_the_newest(straight):
    directory, _ = straight
    assert _step(directory / CHECKPOINT_FILE) == STEPS
    assert _step(directory / (CHECKPOINT_FILE + PREVIOUS_SUFFIX)) == STEPS - EVERY
    # Nothing half-written is left behind: the staged, linked and temporary files are renamed.
    assert sorted(os.listdir(directory)) == [CHECKPOINT_FILE, CHECKPOINT_FILE + PREVIOUS_SUFFIX]


# A torn last write, and one flipped bit in the payload (only the checksum can notice it).
DAMAGE = {"truncated": lambda b: b[:-1], "garbled": lambda b: b[:-64] + bytes([b[-64] ^ 1]) + b[-63:]}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capfd, straight, damage):
    with pytest.raises(Killed):
        _train(tmp_path, stop_after=20)
    newest, previous = tmp_path / CHECKPOINT_FILE, tmp_path / (CHECKPOINT_FILE + PREVIOUS_SUFFIX)
    assert (_step(newest), _step(previous)) == (20, 10)
    newest.write_bytes(damage(newest.read_bytes()))
    capfd.readouterr()

    summary = _train(tmp_path, resume=True)
    err = capfd.readouterr().err
    assert err.count("warning:") == 1 and len(err.strip().splitlines()) == 1, err
    assert str(newest) in err and ("checksum" in err or "truncated" in err)
    assert f"continuing from the previous checkpoint {previous} (step 10)" in err

    directory, straight_summary = straight
    assert summary == straight_summary
    reference = directory / CHECKPOINT_FILE
    # The whole state (parameters, optimizer, recurrent state, traces, data position, keys) is the
    # checkpoint payload: equal digests are equal bytes.
    assert verify(str(newest))["payload_sha256"] == verify(str(reference))["payload_sha256"]
    for ours, theirs in zip(_params(newest), _params(reference), strict=True):
        assert ours.dtype == theirs.dtype and ours.tobytes() == theirs.tobytes()
    # The damaged file was not kept as the previous one: the previous is the resumed step 20.
    assert _step(previous) == 20


def test_both_checkpoints_damaged_is_one_checkpoint_error(tmp_path):
    with pytest.raises(Killed):
        _train(tmp_path, stop_after=20)
    for name, damage in zip((CHECKPOINT_FILE, CHECKPOINT_FILE + PREVIOUS_SUFFIX), DAMAGE.values()):
        path = tmp_path / name
        path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match="and so is the previous checkpoint") as info:
        _train(tmp_path, resume=True)
    assert info.value.where == str(tmp_path / CHECKPOINT_FILE) and "without --resume" in info.value.one_line()
