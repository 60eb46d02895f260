"""Every registered method honours the contract of rtrl/types.py.

For each standard name (registry.STANDARD), GRU and LSTM, on a small sparse model with the spec's
masking defaults: the carry keeps its shapes and dtypes across steps; one jitted step serves every
call (no recompilation); a checkpoint-style round trip of the carry (to numpy and back) gives
identical results; `cost(B)` states the carry's real trace bytes; `forward` gives the loss and final
state `step` does; members vmap and stay independent. float32 (with x64 enabled by conftest), so a
silent promotion to float64 would show. Exactness against references is test_oracles.py's job.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snapsweep import rtrl
from snapsweep.rtrl import registry
from snapsweep.rtrl import verify as v
from snapsweep.rtrl.config import CELL_SHAPES

CELLS = ("gru", "lstm")
T, B, VOCAB = 3, 2, 3


def small(cell):
    # k = 4 units with fan-in 2: sparse, so SnAp-n's neighbourhoods are smaller than the network.
    return rtrl.ModelConfig(cell=cell, hidden=4, vocab_in=VOCAB, vocab_out=VOCAB, density=0.5, size_rule="fixed",
                            shared_masks=True, mask_inputs=True, input_kind="onehot", embed_dim=0, dtype="float32")


def window(seed):
    w = v.random_window(jax.random.key(seed), T=T, B=B, vocab=VOCAB)
    return w._replace(weight=w.weight.astype(jnp.float32))


def spec(tree):
    return jax.tree.map(lambda a: (a.shape, a.dtype), tree)


def assert_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_every_standard_method_is_covered():
    assert {m.name for m in registry.STANDARD} == set(registry.STANDARD_NAMES)
    assert len(CASES) == len(CELLS) * len(registry.STANDARD)


CASES = [(cell, m.name) for cell in CELLS for m in registry.STANDARD]


@functools.lru_cache(maxsize=None)
def members(cell):
    """(params, structure) of three members (seeds 0, 1, 2), stacked on a leading member axis."""
    model = small(cell)
    draw = jax.jit(lambda key: rtrl.init_model(model, key))
    return jax.tree.map(lambda *a: jnp.stack(a), *[draw(jax.random.PRNGKey(s)) for s in range(3)])


def pick(tree, index):
    return jax.tree.map(lambda a: a[np.asarray(index)], tree)


@pytest.mark.parametrize("cell,name", CASES, ids=[f"{c}-{n}" for c, n in CASES])
def test_method_conformance(cell, name):
    """Run as the trainer runs it: a pack of members, vmapped, under jit, tables prepared inside."""
    model = small(cell)
    method = rtrl.make_method(model, name)
    assert method.id == registry.parse(name)
    params, structure = pick(members(cell), [0, 1])
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    init = jax.jit(jax.vmap(lambda p, s, k: method.init(p, s, method.prepare(s), B, k)))
    step = jax.jit(jax.vmap(lambda p, s, c, w: method.step(p, s, method.prepare(s), c, w), in_axes=(0, 0, 0, None)))
    carry = init(params, structure, keys)
    assert carry.state.shape == (2, B, CELL_SHAPES[cell][1], model.units)

    # Cost states the carry's real trace bytes (every method, both modes; zero where nothing is carried).
    cost = method.cost(B)
    real = sum(leaf.nbytes for leaf in jax.tree.leaves(carry.traces)) // 2  # per member
    assert cost.trace_numbers * B * np.dtype(model.dtype).itemsize == cost.trace_bytes == real
    assert cost.bytes_per_step >= 0 and cost.flops_per_step > 0
    assert type(carry.traces).__name__.endswith("Traces")  # the method's named state type

    # Shapes and dtypes stable across steps; grads shaped like params; one compilation for all calls.
    first = spec(carry)
    for seed in range(3):
        loss, grads, carry, stats = step(params, structure, carry, window(seed))
        assert spec(carry) == first
        assert spec(grads) == spec(params)
        assert loss.dtype == jnp.float32 and stats.loss_sum.dtype == jnp.float32
    assert step._cache_size() == 1

    # Checkpoint-style round trip: flatten to numpy, rebuild, continue: identical results.
    leaves, treedef = jax.tree.flatten(carry)
    restored = jax.tree.unflatten(treedef, [jnp.asarray(np.array(leaf)) for leaf in leaves])
    assert type(restored.traces) is type(carry.traces)
    w = window(7)
    loss, grads, after, stats = step(params, structure, carry, w)
    assert_identical(step(params, structure, restored, w), (loss, grads, after, stats))
    assert step._cache_size() == 1

    # Members are independent: replacing member 1 (other masks and weights) leaves member 0 as it was.
    other_p, other_s = pick(members(cell), [0, 2])
    other = jax.tree.map(lambda a, b: jnp.stack([a[0], b[1]]), carry, init(other_p, other_s, keys))
    assert_identical(pick(step(other_p, other_s, other, w), 0), pick((loss, grads, after, stats), 0))

    # forward: the loss and final state of step, with no gradient.
    loss_sum, count, final = jax.jit(jax.vmap(method.forward, in_axes=(0, 0, 0, None)))(
        params, structure, carry.state, w)
    np.testing.assert_allclose(loss_sum, stats.loss_sum, rtol=1e-6)
    np.testing.assert_allclose(loss_sum / B, loss, rtol=1e-6)
    np.testing.assert_allclose(count, stats.count, rtol=0)
    np.testing.assert_allclose(final, after.state, rtol=1e-6, atol=1e-7)
