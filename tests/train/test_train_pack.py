"""Packed trials: members that differ in seed and learning rate run as one vmapped program, each
with its own state, metrics and divergence status. (Pack throughput is bench's: tests/bench.)"""

import math

import jax
import numpy as np
import pytest

import train_settings as ts
from snapsweep.train import Trainer

STEPS = 150
PACK, HUGE = ts.PACK, ts.PACK_HUGE


@pytest.fixture(scope="module")
def runs():
    cfg, members = ts.copy_pack_case(steps=STEPS)
    records = []
    pack = Trainer(cfg, members)
    packed = pack.advance(pack.init(), STEPS, on_metrics=records.append)
    alone = []
    for seed, lr in PACK:
        trainer = Trainer(cfg, ts.members((seed, lr)))
        alone.append((trainer, trainer.advance(trainer.init(), STEPS)))
    return pack, packed, records, alone


def member(state, i):
    return jax.tree.map(lambda x: np.asarray(x)[i], state)


def test_a_pack_matches_its_members_run_alone(runs):
    pack, packed, _, alone = runs
    summary = pack.summary(packed)
    for i, (trainer, state) in enumerate(alone):
        (row,) = trainer.summary(state)
        got = summary[i]
        assert got["seed"] == row["seed"] and got["lr"] == row["lr"]
        assert got["status"] == row["status"] and got["steps"] == row["steps"]
        assert got["diverged_at_step"] == row["diverged_at_step"] and got["tokens"] == row["tokens"]
        assert got["curriculum_level"] == row["curriculum_level"]
        if i != HUGE:
            assert got["train_loss_bits"] == pytest.approx(row["train_loss_bits"], rel=1e-4)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                     member(packed.params, i), member(state.params, 0))


def test_a_diverging_member_is_frozen_and_the_others_continue(runs):
    pack, packed, records, _ = runs
    summary = pack.summary(packed)
    bad = summary[HUGE]
    assert bad["status"] == "diverged" and bad["diverged_at_step"] is not None
    assert bad["steps"] == bad["diverged_at_step"] - 1  # updates applied before the failing one
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(member(packed.params, HUGE)))
    for i, row in enumerate(summary):
        if i != HUGE:
            assert row["status"] == "finished" and row["steps"] == STEPS and math.isfinite(row["train_loss_bits"])
    # Per-member metric records at every log point, with the status as a number.
    assert [r[0]["step"] for r in records] == [50, 100, 150]
    last = records[-1]
    assert [r["member"] for r in last] == [0, 1, 2, 3]
    assert last[HUGE]["metrics"]["status"] == 1.0 and last[0]["metrics"]["status"] == 0.0
    for r in last:
        assert {"train_loss_bits", "tokens", "tokens_per_s", "trace_bytes", "curriculum_level"} <= set(r["metrics"])
