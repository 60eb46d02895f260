"""The public contract: shapes, sizes, packing, typed errors, import hygiene."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snapsweep import rtrl
from snapsweep.errors import BudgetError, ConfigError
from snapsweep.rtrl import verify as v


def model_cfg(**kw):
    base = dict(cell="gru", hidden=8, vocab_in=5, vocab_out=5, density=1.0, size_rule="fixed", shared_masks=True,
                mask_inputs=False, input_kind="onehot", embed_dim=0, dtype="float64")
    base.update(kw)
    return rtrl.ModelConfig(**base)


def leaf_numbers(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def test_units_follow_size_rule():
    assert model_cfg(hidden=128, density=0.25, size_rule="match").units == 256
    assert model_cfg(hidden=128, density=0.25, size_rule="fixed").units == 128
    assert model_cfg(hidden=128, density=1.0, size_rule="match").units == 128


@pytest.mark.parametrize("cell,channels", [("gru", 1), ("lstm", 2), ("rnn", 1)])
def test_trace_numbers_match_carry(cell, channels):
    model = model_cfg(cell=cell, density=0.25)
    params, structure = rtrl.init_model(model, jax.random.key(0))
    p = rtrl.cell_param_count(model)
    assert p == leaf_numbers(params["cell"])
    k, B = model.units, 3
    expected = {("snap", 1): channels * p, ("rtrl", 1): channels * k * p, ("uoro", 1): channels * k + p}
    for (name, n), numbers in expected.items():
        method = rtrl.make_method(model, name, n=n, mode="online")
        assert method.trace_numbers(model) == numbers
        carry = method.init(params, structure, B, jax.random.key(1))
        assert leaf_numbers(carry.traces["trace"]) == B * numbers
    snap2 = rtrl.make_method(model, "snap", n=2, mode="online")
    carry = snap2.init(params, structure, B, jax.random.key(1))
    assert leaf_numbers(carry.traces["trace"]) == B * snap2.trace_numbers(model)
    assert snap2.trace_numbers(model) < channels * k * p  # sparse: fewer numbers than RTRL
    assert rtrl.make_method(model, "bptt").trace_numbers(model) == 0


def test_shapes_do_not_depend_on_the_key_and_members_vmap():
    model = model_cfg(cell="lstm", density=0.25, shared_masks=False)
    members = [rtrl.init_model(model, jax.random.key(s)) for s in range(2)]
    shapes = [jax.tree.map(lambda a: a.shape, m) for m in members]
    assert shapes[0] == shapes[1]
    method = rtrl.make_method(model, "snap", n=2, mode="online")
    window = v.random_window(jax.random.key(3), T=1, B=2, vocab=5)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *members)
    keys = jax.random.split(jax.random.key(4), 2)
    carries = jax.vmap(lambda p, s, k: method.init(p, s, 2, k))(stacked[0], stacked[1], keys)
    loss, grads, _, _ = jax.jit(jax.vmap(method.step, in_axes=(0, 0, 0, None)))(stacked[0], stacked[1], carries, window)
    single = jax.jit(method.step)
    for i, (params, structure) in enumerate(members):
        carry = method.init(params, structure, 2, keys[i])
        loss_i, grads_i, _, _ = single(params, structure, carry, window)
        assert abs(float(loss[i]) - float(loss_i)) < 1e-12
        assert v.rel_err(jax.tree.map(lambda g: g[i], grads), grads_i) < 1e-10


def test_masks_have_fixed_fan_in_and_fan_out_and_masked_grads_are_zero():
    model = model_cfg(hidden=16, density=0.25, shared_masks=False)
    params, structure = rtrl.init_model(model, jax.random.key(0))
    M = np.asarray(structure["masks"]["U"])
    assert M.shape == (3, 16, 16)
    assert (M.sum(axis=2) == 4).all() and (M.sum(axis=1) == 4).all()
    window = v.random_window(jax.random.key(1), T=5, B=2, vocab=5)
    for name in ("bptt", "uoro"):
        method, step = v.compiled(model, name)
        _, grads, _, _ = step(params, structure, method.init(params, structure, 2, jax.random.key(2)), window)
        assert np.all(np.asarray(grads["cell"]["U"])[M == 0] == 0)


def test_stats_and_loss():
    model = model_cfg()
    params, structure = rtrl.init_model(model, jax.random.key(0))
    # The window shape of the oracles (verify.T_CHECK x B_CHECK): the compiled steps are shared with them.
    B = v.B_CHECK
    window = v.random_window(jax.random.key(1), T=v.T_CHECK, B=B, vocab=5)
    for name in ("bptt", "snap", "rtrl"):
        method, step = v.compiled(model, name)
        loss, _, carry, stats = step(params, structure, method.init(params, structure, B, jax.random.key(2)), window)
        assert abs(float(stats["count"]) - float(window.weight.sum())) < 1e-9
        assert abs(float(loss) - float(stats["loss_sum"]) / B) < 1e-9
        assert carry.state.shape == (B, 1, model.units)


def test_embed_inputs():
    model = model_cfg(input_kind="embed", embed_dim=3)
    params, structure = rtrl.init_model(model, jax.random.key(0))
    assert params["embed"]["E"].shape == (5, 3)
    window = v.random_window(jax.random.key(1), T=5, B=2, vocab=5)
    _, bptt, _ = v.offline_grads(model, params, structure, window, "bptt")
    _, exact, _ = v.offline_grads(model, params, structure, window, "rtrl")
    _, snap, _ = v.offline_grads(model, params, structure, window, "snap")  # trace form with embeddings
    # The cell and readout are exact under RTRL; E gets a one-step gradient (a documented departure).
    assert v.rel_err(exact["cell"], bptt["cell"]) < 1e-10
    assert v.rel_err(exact["readout"], bptt["readout"]) < 1e-10
    for g in (exact, snap):
        assert g["embed"]["E"].shape == (5, 3) and np.isfinite(np.asarray(g["embed"]["E"])).all()
        assert float(jnp.abs(g["embed"]["E"]).sum()) > 0


def test_float32_model_runs_float32():
    model = model_cfg(dtype="float32")
    params, structure = rtrl.init_model(model, jax.random.key(0))
    window = v.random_window(jax.random.key(1), T=3, B=2, vocab=5)
    window = window._replace(weight=window.weight.astype(jnp.float32))
    for name, mode in (("snap", "online"), ("bptt", "offline")):
        method, step = v.compiled(model, name, 1, mode)
        _, grads, _, _ = step(params, structure, method.init(params, structure, 2, jax.random.key(2)), window)
        assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))


def test_typed_errors():
    model = model_cfg()
    with pytest.raises(ConfigError) as err:
        rtrl.make_method(model, "kfrtrl")
    assert err.value.fix
    for density in (0, 0.0, 1.5, -0.1):
        with pytest.raises(ConfigError):
            model_cfg(density=density)
    with pytest.raises(ConfigError, match="BPTT updates once per window; use mode: offline"):
        rtrl.make_method(model, "bptt", mode="online")
    with pytest.raises(ConfigError):
        rtrl.make_method(model, "snap", mode="sometimes")
    with pytest.raises(ConfigError):
        rtrl.make_method(model, "snap", n=0)
    with pytest.raises(ConfigError):
        rtrl.make_method(model, "snap-numeric", n=2)
    with pytest.raises(ConfigError):
        rtrl.make_method(model, "snap", mode="online", form="cut")
    with pytest.raises(ConfigError):
        model_cfg(cell="transformer")
    with pytest.raises(ConfigError):
        model_cfg(input_kind="embed", embed_dim=0)
    big = model_cfg(hidden=2048, vocab_in=256, vocab_out=256, dtype="float32")
    with pytest.raises(BudgetError) as err:
        rtrl.make_method(big, "rtrl")
    assert err.value.fix
    with pytest.raises(BudgetError):
        rtrl.make_method(big, "snap", n=2)  # dense: SnAp-2 is RTRL-sized
    rtrl.make_method(big, "snap", n=1)  # fine: p numbers per example
    rtrl.make_method(model_cfg(), "snap", n=2)  # dense small net: allowed, no warning


def test_import_loads_no_platform_dependencies():
    code = ("import sys, snapsweep.rtrl, snapsweep.rtrl.verify, snapsweep.bench; "
            "bad = [m for m in ('ray', 'mlflow', 'pydantic', 'yaml') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_methods_tuple():
    assert rtrl.METHODS == ("bptt", "rtrl", "snap", "uoro", "snap-numeric")
