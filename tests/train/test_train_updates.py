"""What the optimizer sees (the gradient of the mean per-token loss, in both modes), every method in
both modes, and the gradient-fidelity probe.

All tests here use one tiny copy-task setting per (method, mode) with SGD, so the normalisation and
probe tests reuse the programs the method matrix compiles.
"""

import dataclasses

import jax
import numpy as np
import pytest

import train_settings as ts
from snapsweep import rtrl
from snapsweep.rtrl import registry
from snapsweep.train import Trainer
from snapsweep.train.config import OptimConfig

SGD = OptimConfig(name="sgd", b1=0.9, b2=0.999, eps=1e-8, clip_norm=None)
# Every family in every mode it has (registry), SnAp at order 1.
MATRIX = [(family, mode) for family, fam in registry.FAMILIES.items() for mode in fam.modes]


def tiny(name, mode, steps=4, **sched):
    cfg = ts.copy_config(method=name, mode=mode, hidden=6, steps=steps, **{"log_every": 2, **sched})
    return dataclasses.replace(cfg, optim=SGD, task=dataclasses.replace(cfg.task, batch=2, max_level=3))


def first_member(tree):
    return jax.tree.map(lambda x: x[0], tree)


@pytest.mark.parametrize("name, mode", MATRIX, ids=[f"{n}-{m}" for n, m in MATRIX])
def test_every_method_trains_in_both_modes(name, mode):
    trainer = Trainer(tiny(name, mode), ts.members((0, 0.1)))
    records = []
    state = trainer.advance(trainer.init(), 4, on_metrics=records.append)
    (row,) = trainer.summary(state)
    assert row["status"] == "finished" and row["steps"] == 4 and np.isfinite(row["train_loss_bits"])
    tokens = records[-1][0]["metrics"]["tokens"]
    if mode == "online":
        assert tokens == 4 * 2  # one token per element per update
    else:
        assert 4 * 2 * 4 <= tokens <= 4 * 2 * 8  # one whole sequence (2T+2 steps, T <= 3) per element


def one_sgd_update_moves_by(cfg, expected_grads_fn):
    """With SGD, lr = 1 and no clipping, one update moves the parameters by minus the gradient."""
    trainer = Trainer(cfg, ts.members((0, 1.0)))
    state = trainer.init()
    before = first_member(state)
    after = first_member(trainer.advance(state, 1))
    expected = expected_grads_fn(trainer, before)
    moved = jax.tree.map(lambda a, b: a - b, before.params, after.params)
    jax.tree.map(lambda m, g: np.testing.assert_allclose(m, g, rtol=2e-4, atol=1e-6), moved, expected)


def test_offline_updates_use_the_mean_per_token_gradient():
    cfg = tiny("bptt", "offline")

    @jax.jit
    def window_and_grads(s, data):
        _, window = tiny_task.offline_window(s.task, data)
        _, grads, _ = rtrl.bptt_window_grad(cfg.model, s.params, s.structure, s.carry.state, window)
        return window, grads

    def expected(trainer, s):
        window, grads = window_and_grads(s, trainer.data)
        tokens_per_element = float(window.weight.sum()) / cfg.task.batch  # padding does not count
        assert tokens_per_element < window.x.shape[0]
        return jax.tree.map(lambda g: g / tokens_per_element, grads)

    tiny_task = Trainer(cfg, ts.members((0, 1.0))).task

    one_sgd_update_moves_by(cfg, expected)


def test_online_updates_use_the_per_step_gradient():
    cfg = tiny("snap", "online")

    def expected(trainer, s):
        @jax.jit
        def grads(s, data):
            _, window = trainer.task.online_window(s.task, data)
            method = trainer.method
            return method.step(s.params, s.structure, method.prepare(s.structure), s.carry, window)[1]

        return grads(s, trainer.data)  # one token per element: divided by 1

    one_sgd_update_moves_by(cfg, expected)


def probe(cfg):
    trainer = Trainer(cfg, ts.members((0, 1e-3), (1, 1e-3)))
    cosine, ratio = trainer.probe(trainer.init())
    return np.asarray(cosine), np.asarray(ratio)


def test_probe_of_bptt_is_exact():
    cosine, ratio = probe(tiny("bptt", "offline"))
    np.testing.assert_allclose(cosine, 1.0, atol=1e-5)
    np.testing.assert_allclose(ratio, 1.0, atol=1e-5)


def test_probe_of_online_rtrl_with_fixed_parameters_is_exact():
    cosine, ratio = probe(tiny("rtrl", "online"))
    np.testing.assert_allclose(cosine, 1.0, atol=1e-4)
    np.testing.assert_allclose(ratio, 1.0, atol=1e-3)


def test_probe_of_snap1_is_an_approximation_and_is_logged():
    trainer = Trainer(tiny("snap", "offline", steps=4, probe_every=2), ts.members((0, 0.1)))
    records = []
    trainer.advance(trainer.init(), 4, on_metrics=records.append)
    assert [r[0]["step"] for r in records] == [2, 4]
    for r in records:
        m = r[0]["metrics"]
        assert 0.0 < m["grad_cosine"] < 1.0 - 1e-6 and m["grad_norm_ratio"] > 0
