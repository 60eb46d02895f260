"""The loss half of the divergence rule (train/loop.py): a member whose mean training loss over a
log interval exceeds factor x the task's trivial loss is marked diverged at that boundary and
frozen; its pack-mates compute exactly what they would without the rule."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import train_settings as ts

from snapsweep.tasks.info import task_info
from snapsweep.train import Trainer

STEPS = 30


def _config(factor):
    cfg = ts.copy_config(method="snap", mode="online", hidden=8, steps=STEPS, log_every=10)
    return dataclasses.replace(cfg, divergence_factor=factor)


def test_trivial_loss_is_log2_of_the_vocabulary():
    assert task_info(ts.copy_task()).trivial_bits == 2.0
    assert task_info(ts.text_task()).trivial_bits == 8.0


def test_a_member_far_above_the_trivial_loss_is_diverged_and_frozen():
    members = ts.members((0, 3e-3), (0, 1e3))
    trainer = Trainer(_config(10.0), members)
    records = []
    state = trainer.advance(trainer.init(), 10, on_metrics=records.extend)
    first = {r["member"]: r["metrics"] for r in records}
    assert first[1]["train_loss_bits"] > 10.0 * 2.0 and first[1]["status"] == 1.0
    assert first[0]["train_loss_bits"] < 20.0 and first[0]["status"] == 0.0
    frozen = jax.tree.map(lambda x: np.asarray(x[1]), state.params)
    state = trainer.advance(state, STEPS - 10)
    after = jax.tree.map(lambda x: np.asarray(x[1]), state.params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(frozen), jax.tree.leaves(after)))

    good, bad = trainer.summary(state)
    assert (good["status"], good["steps"], good["diverged_at_step"]) == ("finished", STEPS, None)
    assert (bad["status"], bad["steps"], bad["diverged_at_step"]) == ("diverged", 10, 10)

    # Without the rule the same pack-mate computes the same numbers, and the checkpoint
    # fingerprint does not depend on the factor.
    plain = Trainer(_config(None), members)
    plain_state = plain.advance(plain.init(), STEPS)
    assert plain.fingerprint == trainer.fingerprint
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(plain_state.params)):
        assert np.array_equal(np.asarray(a)[0], np.asarray(b)[0])
    assert plain.summary(plain_state)[1]["status"] == "finished"  # the rule off: only non-finite counts
