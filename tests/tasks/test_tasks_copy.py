"""Copy task: sequence layout, streams with resets, offline windows, curriculum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snapsweep.tasks import CopyTask
from snapsweep.tasks.copy import BLANK, START
from snapsweep.tasks.config import CopyTaskConfig


def config(**kw):
    base = dict(kind="copy", batch=8, length_spread=4, start_level=1, threshold_bits=0.15, ema_decay=0.999,
                ema_reset=0.3, max_level=40)
    base.update(kw)
    return CopyTaskConfig(**base)


def expected(bits):
    t = len(bits)
    x = [START] + list(bits) + [BLANK] * (t + 1)
    y = [BLANK] * (t + 1) + [START] + list(bits)
    return x, y


def test_online_streams_follow_the_layout_and_reset_at_sequence_starts():
    task = CopyTask(config(start_level=7))
    step = jax.jit(task.online_window)
    ts = task.init(jax.random.PRNGKey(0))
    xs, ys, resets = [], [], []
    for _ in range(200):
        ts, w = step(ts, ())
        assert w.x.shape == (1, 8) and bool(jnp.all(w.weight == 1))
        xs.append(np.asarray(w.x[0])), ys.append(np.asarray(w.y[0])), resets.append(np.asarray(w.reset[0]))
    xs, ys, resets = np.stack(xs), np.stack(ys), np.stack(resets)
    lengths = set()
    for b in range(8):
        starts = np.flatnonzero(resets[:, b])
        assert starts[0] == 0
        for s, e in zip(starts[:-1], starts[1:]):
            t = (e - s - 2) // 2
            assert e - s == 2 * t + 2
            lengths.add(t)
            bits = xs[s + 1:s + 1 + t, b]
            assert set(bits) <= {0, 1}
            x, y = expected(bits)
            assert list(xs[s:e, b]) == x and list(ys[s:e, b]) == y
    assert lengths == set(range(3, 8))  # uniform over {max(1, L-4) .. L}


def test_offline_window_holds_one_padded_sequence_per_element():
    task = CopyTask(config(start_level=5, max_level=9))
    ts, w = jax.jit(task.offline_window)(jax.jit(task.init)(jax.random.PRNGKey(1)), ())
    assert task.offline_steps == 2 * 9 + 2 and w.x.shape == (20, 8)
    assert bool(jnp.all(w.reset[0])) and not bool(jnp.any(w.reset[1:]))
    for b in range(8):
        n = int(w.weight[:, b].sum())
        t = (n - 2) // 2
        assert n == 2 * t + 2 and 1 <= t <= 5
        x, y = expected(np.asarray(w.x[1:1 + t, b]))
        assert list(np.asarray(w.x[:n, b])) == x and list(np.asarray(w.y[:n, b])) == y
        assert not bool(jnp.any(w.weight[n:, b]))


def test_curriculum_rises_below_threshold_resets_the_ema_and_stops_at_max_level():
    task = CopyTask(config(ema_decay=0.5, max_level=3))
    ts = task.init(jax.random.PRNGKey(0))
    assert int(ts.level) == 1 and float(ts.ema) == pytest.approx(0.3)
    ts = task.observe(ts, jnp.asarray(1.0), 1)  # 0.5*0.3 + 0.5*1.0 = 0.65
    assert int(ts.level) == 1 and float(ts.ema) == pytest.approx(0.65)
    ts = task.observe(ts, jnp.asarray(0.0), 1)  # 0.325
    ts = task.observe(ts, jnp.asarray(0.0), 1)  # 0.1625
    ts = task.observe(ts, jnp.asarray(0.0), 1)  # 0.08125 < 0.15: rise, reset
    assert int(ts.level) == 2 and float(ts.ema) == pytest.approx(0.3)
    for _ in range(20):
        ts = task.observe(ts, jnp.asarray(0.0), 1)
    assert int(ts.level) == 3  # capped
    # A window of n steps folds in as decay**n.
    ts = task.init(jax.random.PRNGKey(0))
    ts = task.observe(ts, jnp.asarray(1.0), 3.0)
    assert float(ts.ema) == pytest.approx(0.125 * 0.3 + 0.875 * 1.0)


def test_generation_is_a_pure_function_of_the_key_and_vmaps():
    task = CopyTask(config())
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    states = jax.jit(jax.vmap(task.init))(keys)
    _, w = jax.jit(jax.vmap(task.offline_window, in_axes=(0, None)))(states, ())
    _, w0 = jax.jit(task.offline_window)(jax.jit(task.init)(keys[0]), ())
    assert w.x.shape == (4,) + w0.x.shape
    np.testing.assert_array_equal(w.x[0], w0.x)
    assert not np.array_equal(w.x[0], w.x[1])
