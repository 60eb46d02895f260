"""The cost model's structure (pure Python): what SnAp-n's price is made of, and how it grows."""

import pytest

from snapsweep.rtrl import costs
from snapsweep.rtrl.config import ModelConfig
from snapsweep.rtrl.registry import STANDARD, parse


def model(hidden=32, density=1.0, cell="gru"):
    return ModelConfig(cell=cell, hidden=hidden, vocab_in=256, vocab_out=256, density=density, size_rule="fixed",
                       shared_masks=True, mask_inputs=True, input_kind="onehot", embed_dim=0, dtype="float32")


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("n", [2, 3])
def test_saturated_snap_n_costs_what_rtrl_costs(cell, n):
    dense = model(cell=cell)
    snap, rtrl = costs.cost(parse(f"snap{n}-online"), dense, 4), costs.cost(parse("rtrl-online"), dense, 4)
    assert costs.neighbourhood_size(dense, n) == dense.units
    assert (snap.trace_numbers, snap.trace_bytes) == (rtrl.trace_numbers, rtrl.trace_bytes)
    # The same (Ck x Ck) by (Ck x p) product per example; SnAp-n's has one more row, δᵀ D, where the
    # gates share one pattern (its gradient), so the new traces are not read again.
    S = dense.units * (2 if cell == "lstm" else 1)
    gradient_row = 1 if cell != "lstm" else 0
    assert snap.product_inner == rtrl.product_inner == S
    assert snap.product_flops * S == rtrl.product_flops * (S + gradient_row)
    assert snap.flops_per_step - snap.product_flops == rtrl.flops_per_step - rtrl.product_flops
    # A sparse net whose neighbourhoods reach every unit is priced like the dense one too.
    reached = model(cell=cell, density=0.25)
    assert costs.neighbourhood_size(reached, 3) == reached.units
    S = reached.units * (2 if cell == "lstm" else 1)
    assert costs.cost(parse("snap3-online"), reached, 4).product_flops == \
        2 * 4 * costs.trace_numbers(parse("snap3-online"), reached) * (S + gradient_row)


def test_sparse_snap2_includes_the_neighbourhood_factor():
    sparse = model(hidden=64, density=0.25)
    N = costs.neighbourhood_size(sparse, 2)
    assert 1 < N < sparse.units
    snap1, snap2 = (costs.cost(parse(name), sparse, 16) for name in ("snap1-online", "snap2-online"))
    assert snap2.trace_numbers == N * snap1.trace_numbers == sparse.units * N * costs.row_param_count(sparse)
    # The gradient is one more row of the product (δᵀ D_local) on a GRU, whose gates share a pattern.
    assert snap2.product_flops == 2 * 16 * snap2.trace_numbers * (N + 1) and snap2.product_inner == N
    assert snap2.bytes_per_step == costs.TRACE_PASSES["snapn"] * snap2.trace_bytes + 2 * sparse.units * 16 * (N + 1) * N * 4
    assert snap1.product_flops == 0 and snap1.bytes_per_step == costs.TRACE_PASSES["snap"] * snap1.trace_bytes


@pytest.mark.parametrize("method", STANDARD, ids=lambda m: m.name)
def test_costs_and_prices_grow_with_k(method):
    rates = costs.GUESSED_RATES["cpu"]
    prices = []
    for k in (8, 16, 32, 64, 128):
        c = costs.cost(method, model(hidden=k, density=0.5), 4)
        prices.append((c.trace_numbers, c.bytes_per_step, c.flops_per_step, c.bytes_per_update,
                       costs.step_seconds(c, rates), costs.update_seconds(c, rates, 16)))
    for small, large in zip(prices, prices[1:]):
        assert all(a <= b for a, b in zip(small, large)), (small, large)
    assert prices[0][-1] < prices[-1][-1]


def test_price_adds_kernels_bytes_and_flops_and_members_share_kernels():
    rates = costs.Rates("test", bandwidth=1e9, op_seconds=1e-6, product_rates=((8, 1e9), (128, 16e9)))
    c = costs.cost(parse("snap2-offline"), model(hidden=64, density=0.25), 2)
    N = c.product_inner
    assert rates.product_rate(8) == 1e9 and rates.product_rate(128) == 16e9 and rates.product_rate(4096) == 16e9
    assert rates.product_rate(32) == pytest.approx(4e9)  # log-log: halfway between 8 and 128
    work = (c.bytes_per_step / 1e9 + c.product_flops / rates.product_rate(N)
            + (c.flops_per_step - c.product_flops) / rates.product_rate(c.forward_inner))
    assert costs.step_seconds(c, rates) == pytest.approx(c.ops_per_step * 1e-6 + work)
    assert costs.step_seconds(c, rates, members=3) == pytest.approx(c.ops_per_step * 1e-6 + 3 * work)
    fixed = c.ops_per_update * 1e-6 + c.bytes_per_update / 1e9
    assert costs.update_seconds(c, rates, 5) == pytest.approx(fixed + 5 * costs.step_seconds(c, rates))
    assert costs.Rates.from_json(rates.to_json()) == rates
    measured = rates._replace(measured_at="2026-01-01T00:00:00+00:00")
    assert costs.Rates.from_json(measured.to_json()) == measured
