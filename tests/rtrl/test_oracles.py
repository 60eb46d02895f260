"""Every gradient method against an exact reference (the same checks `snapsweep verify` runs)."""

import pytest

from snapsweep.rtrl import verify as v

CELLS = ("gru", "lstm", "rnn")


def assert_passed(check):
    assert check.passed, f"{check.name}: {check.detail}"


@pytest.mark.parametrize("cell", CELLS)
def test_rtrl_equals_bptt(cell):
    assert_passed(v.check_rtrl_equals_bptt(cell))


@pytest.mark.parametrize("cell", CELLS)
def test_snap1_exact_when_recurrence_is_diagonal(cell):
    # Catches the |I_t| > 0 mistake: with one-hot inputs it would zero inactive input columns.
    for check in v.check_snap1_diagonal_equals_bptt(cell):
        assert_passed(check)


@pytest.mark.parametrize("cell", CELLS)
def test_numeric_mask_is_not_snap1(cell):
    assert_passed(v.check_numeric_mask_differs(cell))


@pytest.mark.parametrize("cell", CELLS)
def test_snap1_cut_form_equals_trace_form(cell):
    assert_passed(v.check_snap1_cut_equals_traces(cell))


@pytest.mark.parametrize("cell,n,shared", [(c, 2, s) for c in CELLS for s in (True, False)] + [("lstm", 3, True)])
def test_snapn_equals_dense_masked_reference(cell, n, shared):
    # Per-gate masks matter for the LSTM: its output gate's U_o feeds h but not c.
    assert_passed(v.check_snapn_equals_reference(cell, n, shared_masks=shared))


@pytest.mark.parametrize("cell", CELLS)
def test_snapn_past_diameter_equals_rtrl(cell):
    assert_passed(v.check_snapn_diameter_equals_rtrl(cell))


@pytest.mark.parametrize("cell", CELLS)
def test_snap2_on_dense_net_equals_rtrl(cell):
    assert_passed(v.check_snap2_dense_equals_rtrl(cell))


@pytest.mark.parametrize("cell", CELLS)
def test_uoro_mean_approaches_rtrl(cell):
    # 16000 independent sign sequences; relative error of the mean below 0.1 (see verify.UORO_TOL).
    assert_passed(v.check_uoro_unbiased(cell))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("name", v.ONLINE_METHODS)
def test_online_with_frozen_params_equals_offline(cell, name):
    assert_passed(v.check_online_equals_offline(cell, name))


@pytest.mark.parametrize("cell,name", [("gru", m) for m in ("bptt", "rtrl", "snap2", "uoro")]
                         + [(c, "snap1") for c in CELLS])
def test_reset_mid_window_equals_two_windows(cell, name):
    assert_passed(v.check_reset_equals_split(cell, name))


def test_verify_streams_each_check_and_returns_them_all():
    seen = []
    checks = v.verify(cells=("rnn",), on_check=seen.append)
    assert seen == checks and len(checks) == 16 and all(c.passed for c in checks)


def test_bptt_probe_from_nonzero_state():
    assert_passed(v.check_bptt_probe("lstm"))


@pytest.mark.parametrize("cell", ("gru", "lstm"))
def test_compact_traces_with_masked_inputs(cell):
    """Traces stored at kept columns only (sparse U, masked inputs): SnAp-1's trace form still equals
    its cut form, and SnAp-2 the dense masked reference."""
    import dataclasses

    import jax

    from snapsweep.rtrl import init_model, make_method

    with v.float64():
        model = dataclasses.replace(v.small_model(cell, density=0.25, vocab=8), mask_inputs=True)
        params, structure = init_model(model, jax.random.key(0))
        window = v.random_window(jax.random.key(1), T=5, B=2, vocab=model.vocab_in)

        def grads(name):
            method = make_method(model, name)
            carry = method.init(params, structure, method.prepare(structure), 2, jax.random.key(2))
            return method.step(params, structure, method.prepare(structure), carry, window)[1]["cell"]

        assert v.rel_err(grads("snap1-traces-offline"), grads("snap1-cut-offline")) < v.EXACT
        assert v.rel_err(grads("snap2-offline"), v.snapn_reference_grads(model, params, structure, window, 2)) < v.EXACT
