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
from snapsweep.rtrl.costs import row_param_count
from snapsweep.rtrl.registry import MethodId


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


def test_cell_shapes_agree_with_the_cells():
    from snapsweep.rtrl.cells import get_cell
    from snapsweep.rtrl.config import CELL_SHAPES

    from snapsweep.rtrl.methods.snapn import uniform_pattern

    for cell, (gates, channels) in CELL_SHAPES.items():
        assert (get_cell(cell).gates, get_cell(cell).channels) == (gates, channels)
        # rtrl.costs prices SnAp-n's gradient row (a uniform pattern) where C == 1.
        assert uniform_pattern(get_cell(cell)) == (channels == 1)


@pytest.mark.parametrize("cell,channels", [("gru", 1), ("lstm", 2), ("rnn", 1)])
def test_trace_numbers_follow_the_paper(cell, channels):
    model = model_cfg(cell=cell, density=0.25)
    params, structure = rtrl.init_model(model, jax.random.key(0))
    p = rtrl.cell_param_count(model)
    assert p == leaf_numbers(params["cell"])
    k = model.units
    # SnAp-1 keeps one number (per channel) for each parameter its masks keep, nothing for masked ones.
    G = params["cell"]["b"].shape[0]
    kept = int(sum(jnp.sum(mask > 0) * G // mask.shape[0] for mask in structure["masks"].values()))
    unmasked = kept + leaf_numbers(params["cell"]["b"]) + sum(
        leaf_numbers(params["cell"][name]) for name in ("W", "U") if name not in structure["masks"])
    assert row_param_count(model) * k == unmasked
    expected = {"snap1-online": channels * unmasked, "snap1-traces-offline": channels * unmasked,
                "rtrl-online": channels * k * p,
                "uoro-online": channels * k + p, "bptt-offline": 0, "snap1-offline": 0}
    for name, numbers in expected.items():
        assert rtrl.make_method(model, name).cost(3).trace_numbers == numbers, name
    snap2 = rtrl.make_method(model, "snap2-online").cost(3).trace_numbers
    assert 0 < snap2 < channels * k * p  # sparse: fewer numbers than RTRL


def test_shapes_do_not_depend_on_the_key_and_members_vmap():
    model = model_cfg(cell="lstm", density=0.25, shared_masks=False)
    members = [rtrl.init_model(model, jax.random.key(s)) for s in range(2)]
    shapes = [jax.tree.map(lambda a: a.shape, m) for m in members]
    assert shapes[0] == shapes[1]
    method = rtrl.make_method(model, "snap2-online")
    window = v.random_window(jax.random.key(3), T=1, B=2, vocab=5)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *members)
    keys = jax.random.split(jax.random.key(4), 2)
    tables = jax.vmap(method.prepare)(stacked[1])
    carries = jax.vmap(lambda p, s, t, k: method.init(p, s, t, 2, k))(stacked[0], stacked[1], tables, keys)
    loss, grads, _, _ = jax.jit(jax.vmap(method.step, in_axes=(0, 0, 0, 0, None)))(
        stacked[0], stacked[1], tables, carries, window)
    single = v.compiled(model, "snap2-online")
    for i, (params, structure) in enumerate(members):
        carry = single.init(params, structure, 2, keys[i])
        loss_i, grads_i, _, _ = single.step(params, structure, carry, window)
        assert abs(float(loss[i]) - float(loss_i)) < 1e-12
        assert v.rel_err(jax.tree.map(lambda g: g[i], grads), grads_i) < 1e-10


def test_masks_have_fixed_fan_in_and_fan_out_and_masked_grads_are_zero():
    model = model_cfg(hidden=16, density=0.25, shared_masks=False)
    params, structure = rtrl.init_model(model, jax.random.key(0))
    M = np.asarray(structure["masks"]["U"])
    assert M.shape == (3, 16, 16)
    assert (M.sum(axis=2) == 4).all() and (M.sum(axis=1) == 4).all()
    window = v.random_window(jax.random.key(1), T=5, B=2, vocab=5)
    for name in ("bptt-offline", "uoro-offline"):
        program = v.compiled(model, name)
        _, grads, _, _ = program.step(params, structure, program.init(params, structure, 2, jax.random.key(2)), window)
        assert np.all(np.asarray(grads["cell"]["U"])[M == 0] == 0)


def test_stats_and_loss():
    model = model_cfg()
    params, structure = rtrl.init_model(model, jax.random.key(0))
    # The window shape of the oracles (verify.T_CHECK x B_CHECK): the compiled steps are shared with them.
    B = v.B_CHECK
    window = v.random_window(jax.random.key(1), T=v.T_CHECK, B=B, vocab=5)
    for name in ("bptt-offline", "snap1-offline", "rtrl-offline"):
        program = v.compiled(model, name)
        loss, _, carry, stats = program.step(params, structure, program.init(params, structure, B, jax.random.key(2)),
                                             window)
        assert abs(float(stats.count) - float(window.weight.sum())) < 1e-9
        assert abs(float(loss) - float(stats.loss_sum) / B) < 1e-9
        assert carry.state.shape == (B, 1, model.units)


def test_embed_inputs():
    model = model_cfg(input_kind="embed", embed_dim=3)
    params, structure = rtrl.init_model(model, jax.random.key(0))
    assert params["embed"]["E"].shape == (5, 3)
    window = v.random_window(jax.random.key(1), T=5, B=2, vocab=5)
    _, bptt, _ = v.offline_grads(model, params, structure, window, "bptt")
    _, exact, _ = v.offline_grads(model, params, structure, window, "rtrl")
    _, snap, _ = v.offline_grads(model, params, structure, window, "snap1-traces")  # the form for embeddings
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
    for name in ("snap1-online", "bptt-offline"):
        program = v.compiled(model, name)
        _, grads, _, _ = program.step(params, structure, program.init(params, structure, 2, jax.random.key(2)), window)
        assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))


def test_typed_errors():
    model = model_cfg()
    with pytest.raises(ConfigError) as err:
        rtrl.make_method(model, "kfrtrl-online")
    assert err.value.fix
    for density in (0, 0.0, 1.5, -0.1):
        with pytest.raises(ConfigError):
            model_cfg(density=density)
    for name in ("bptt-online", "snap1-sometimes", "snap0-offline", "snap-numeric2-offline", "snap1-cut-online",
                 "snap2-traces-offline", "snap1"):
        with pytest.raises(ConfigError):
            rtrl.make_method(model, name)
    # A MethodId built by hand is checked by the registry too.
    with pytest.raises(ConfigError):
        rtrl.make_method(model, MethodId("bptt", 1, "online"))
    with pytest.raises(ConfigError, match="embedding"):
        rtrl.make_method(model_cfg(input_kind="embed", embed_dim=3), "snap1-offline")
    with pytest.raises(ConfigError):
        model_cfg(cell="transformer")
    with pytest.raises(ConfigError):
        model_cfg(input_kind="embed", embed_dim=0)
    big = model_cfg(hidden=2048, vocab_in=256, vocab_out=256, dtype="float32")
    with pytest.raises(BudgetError) as err:
        rtrl.make_method(big, "rtrl-offline")
    assert err.value.fix
    with pytest.raises(BudgetError):
        rtrl.make_method(big, "snap2-offline")  # dense: SnAp-2 is RTRL-sized
    with pytest.raises(BudgetError):
        rtrl.make_method(model_cfg(), "rtrl-offline", budget_bytes=8)  # the budget is a setting
    rtrl.make_method(big, "snap1-online")  # fine: p numbers per example
    rtrl.make_method(model_cfg(), "snap2-offline")  # dense small net: allowed, no warning


def test_import_loads_no_platform_dependencies():
    code = ("import sys, snapsweep.rtrl, snapsweep.rtrl.verify, snapsweep.bench; "
            "bad = [m for m in ('ray', 'mlflow', 'pydantic', 'yaml') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
