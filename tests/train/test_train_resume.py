"""Resumable state: N steps straight through equal N/2, save, load in a fresh process, N/2 more,
bit for bit on the CPU. Bad checkpoints are typed errors."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import train_settings as ts
from snapsweep.errors import CheckpointError
from snapsweep.train import Trainer

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED_STATUS = {"copy": ["finished", "finished", "diverged", "finished"], "lm": ["finished"]}


def assert_bitwise_equal(a, b):
    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    assert ta == tb
    for (path, x), (_, y) in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, jax.tree_util.keystr(path)
        assert x.tobytes() == y.tobytes(), f"{jax.tree_util.keystr(path)} differs"


@pytest.fixture(scope="module")
def trainers():
    """One trainer per case for the whole module: compiled chunks are cached per trainer."""
    return {case: Trainer(*make()) for case, make in ts.CASES.items()}


@pytest.mark.parametrize("case", ["copy", "lm"])
def test_resume_in_a_fresh_process_is_bit_for_bit(case, tmp_path, trainers):
    trainer = trainers[case]
    n = trainer.config.schedule.steps
    straight = trainer.advance(trainer.init(), n)

    half = trainer.advance(trainer.init(), n // 2)
    src, dst = str(tmp_path / "half.ckpt"), str(tmp_path / "full.ckpt")
    trainer.save(src, half, {"mlflow_run_ids": ["a", "b"]})
    env = dict(os.environ, HF_HUB_OFFLINE="1", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "resume_child.py"), case, src, str(n - n // 2), dst],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    resumed, meta = trainer.load(dst)
    assert meta == {"mlflow_run_ids": ["a", "b"], "child": True}
    assert_bitwise_equal(straight, resumed)
    assert trainer.summary(straight) == trainer.summary(resumed)
    assert [row["status"] for row in trainer.summary(resumed)] == EXPECTED_STATUS[case]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, trainers):
    trainer = trainers["copy"]
    state = trainer.advance(trainer.init(), 50)
    path = str(tmp_path_factory.mktemp("ckpt") / "state.ckpt")
    trainer.save(path, state, {"k": 1})
    return trainer, state, path


def test_load_round_trips_in_process(saved):
    trainer, state, path = saved
    loaded, meta = trainer.load(path)
    assert meta == {"k": 1}
    assert_bitwise_equal(state, loaded)
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".tmp-")]  # temp file renamed


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:10], "bad magic"),
    (lambda b: b"", "bad magic"),
    (lambda b: b[:-100] + bytes(x ^ 0xFF for x in b[-100:]), "corrupt"),
    (lambda b: b"garbage" + b, "bad magic"),
])
def test_damaged_checkpoints_are_checkpoint_errors(saved, tmp_path, damage, message):
    trainer, _, path = saved
    bad = tmp_path / "bad.ckpt"
    with open(path, "rb") as f:
        bad.write_bytes(damage(f.read()))
    with pytest.raises(CheckpointError, match=message) as err:
        trainer.load(str(bad))
    assert "\n" not in str(err.value)


def test_missing_checkpoint_and_other_settings_are_refused(saved, tmp_path):
    trainer, _, path = saved
    with pytest.raises(CheckpointError, match="no checkpoint"):
        trainer.load(str(tmp_path / "nothing.ckpt"))
    config, members = ts.copy_pack_case()
    other = Trainer(config, members[:1])  # same settings, other members
    with pytest.raises(CheckpointError, match="different settings"):
        other.load(path)


def test_meta_must_be_json(saved, tmp_path):
    trainer, state, _ = saved
    with pytest.raises(CheckpointError, match="JSON"):
        trainer.save(str(tmp_path / "x.ckpt"), state, {"bad": object()})
