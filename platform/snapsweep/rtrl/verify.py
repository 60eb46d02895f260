"""Oracle self-checks of the gradient methods, at small sizes in float64.

One piece of code serves `snapsweep verify` (through `verify()`) and the test-suite (which calls the
`check_*` functions directly). Every check compares against an exact reference, never a smoke run:

  rtrl_equals_bptt            exact RTRL = BPTT over a window (J_0 = 0)
  snap1_diagonal_equals_bptt  diagonal recurrent matrices make D diagonal, so SnAp-1 is exact
  numeric_mask_differs        the |I_t| > 0 mask of Appendix D is not SnAp-1 on one-hot inputs
  snap1_cut_equals_traces     diagonal-cut backward form = forward traces (offline)
  snapn_equals_reference      compact SnAp-n = dense masked M_n ⊙ (I + D J) built with jacrev/jacfwd
  snapn_diameter_equals_rtrl  SnAp-n with n past the graph diameter is RTRL
  snap2_dense_equals_rtrl     on a dense net SnAp-2 is RTRL
  uoro_unbiased               the mean of many UORO estimates approaches RTRL
  online_equals_offline       T=1 calls with frozen params sum to one offline call
  reset_equals_split          a reset mid-window = two windows from zero state
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from typing import Callable, Optional

from snapsweep.rtrl.cells import get_cell, matvec
from snapsweep.rtrl.config import ModelConfig
from snapsweep.rtrl.methods import make_method
from snapsweep.rtrl.methods.bptt import bptt_window_grad
from snapsweep.rtrl.model import apply_masks, init_model, readout_loss, zero_state
from snapsweep.rtrl.registry import parse
from snapsweep.rtrl.types import Carry, Method, Window

CELLS = ("gru", "lstm", "rnn")
EXACT = 1e-10  # relative error allowed where two computations are mathematically identical


class Check(NamedTuple):
    name: str
    passed: bool
    detail: str


@contextlib.contextmanager
def float64():
    """Enable x64 for the duration, then restore whatever was set."""
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def small_model(cell: str, hidden: int = 8, density: float = 1.0, shared_masks: bool = True,
                vocab: int = 5) -> ModelConfig:
    return ModelConfig(cell=cell, hidden=hidden, vocab_in=vocab, vocab_out=vocab, density=density,
                       size_rule="fixed", shared_masks=shared_masks, mask_inputs=False, input_kind="onehot",
                       embed_dim=0, dtype="float64")


def random_window(key, T: int, B: int, vocab: int, reset_at: int | None = None) -> Window:
    k1, k2, k3 = jax.random.split(key, 3)
    reset = jnp.zeros((T, B), bool)
    if reset_at is not None:
        reset = reset.at[reset_at].set(True)
    return Window(x=jax.random.randint(k1, (T, B), 0, vocab, jnp.int32),
                  y=jax.random.randint(k2, (T, B), 0, vocab, jnp.int32),
                  weight=jax.random.uniform(k3, (T, B), jnp.float64, 0.5, 1.5), reset=reset)


def rel_err(a, b) -> float:
    fa, fb = ravel_pytree(a)[0], ravel_pytree(b)[0]
    return float(jnp.linalg.norm(fa - fb) / jnp.maximum(jnp.linalg.norm(fb), 1e-300))


class Compiled(NamedTuple):
    """A method and its jitted step, with the static tables prepared inside the compiled program."""

    method: Method
    step: Callable  # (params, structure, carry, window) -> (loss, grads, carry, stats)

    def init(self, params, structure, batch_size: int, key) -> Carry:
        return self.method.init(params, structure, self.method.prepare(structure), batch_size, key)


def compiled(model, name: str) -> Compiled:
    """`name`: a registry name (e.g. "snap2-offline"). Cached so that checks sharing a configuration
    compile once.

    Compilation dominates these checks (the runs are tiny), so configurations that compile to the
    same program share one: SnAp's traces (SnAp-1 at the kept columns, SnAp-n at the pattern) have
    sizes set by the fan-in, so they are keyed on the density; every other method (and the
    diagonal-cut SnAp-1, which keeps no traces) sees the masks only as `structure` arguments, so its
    program depends on the density only through the number of units, and is keyed on that.
    """
    method_id = parse(name)
    if method_id.family != "snap" or method_id.resolved_form == "cut":
        model = dataclasses.replace(model, hidden=model.units, size_rule="fixed", density=1.0)
    return _compiled(model, method_id.name)


@functools.lru_cache(maxsize=None)
def _compiled(model, name):
    method = make_method(model, name)
    step = jax.jit(lambda params, structure, carry, window:
                   method.step(params, structure, method.prepare(structure), carry, window))
    return Compiled(method, step)


def offline_grads(model, params, structure, window, name, key=None):
    """`name`: a registry name without its mode (e.g. "snap2"); run offline over `window`."""
    program = compiled(model, f"{name}-offline")
    B = window.y.shape[1]
    carry = program.init(params, structure, B, jax.random.key(7) if key is None else key)
    loss, grads, _, stats = program.step(params, structure, carry, window)
    return loss, grads, stats


T_CHECK, B_CHECK = 6, 3


def _setup(cell, seed, sparse=False, **kw):
    """A dense k=8 model, or a sparse k=8 one (fan-in 2), with a random window of 6 steps x 3 streams.

    Both have the same shapes, so every method but SnAp-n compiles once per cell for both.
    """
    if sparse:
        kw = dict(dict(density=0.25), **kw)
    return _setup_cached(cell, seed, tuple(sorted(kw.items())))


@functools.lru_cache(maxsize=None)
def _setup_cached(cell, seed, kw):
    """Built once per configuration and reused by every check (arrays are immutable)."""
    model = small_model(cell, **dict(kw))
    params, structure = init_model(model, jax.random.key(seed))
    window = random_window(jax.random.key(seed + 1), T=T_CHECK, B=B_CHECK, vocab=model.vocab_in)
    return model, params, structure, window


def _compare(name, got, want, tol=EXACT, what="relative error"):
    err = rel_err(got, want)
    return Check(name, bool(err < tol), f"{what} {err:.2e} (tolerance {tol:.0e})")


# ---------------------------------------------------------------------------------------------------
def check_rtrl_equals_bptt(cell: str, seed: int = 0) -> Check:
    with float64():
        model, params, structure, window = _setup(cell, seed)
        _, want, _ = offline_grads(model, params, structure, window, "bptt")
        _, got, _ = offline_grads(model, params, structure, window, "rtrl")
        return _compare(f"rtrl_equals_bptt[{cell}]", got, want)


def diagonal_structure(model, params, structure):
    """Replace the recurrent masks by the identity: every U_g diagonal, so D_t is (block-)diagonal."""
    eye = jnp.eye(model.units, dtype=jnp.float64)[None]
    masks = dict(structure["masks"], U=eye)
    params = dict(params, cell=apply_masks(params["cell"], masks))
    return params, {"masks": masks}


def check_snap1_diagonal_equals_bptt(cell: str, seed: int = 0) -> list[Check]:
    with float64():
        model, params, structure, window = _setup(cell, seed)
        params, structure = diagonal_structure(model, params, structure)
        _, want, _ = offline_grads(model, params, structure, window, "bptt")
        out = []
        for form in ("cut", "traces"):
            _, got, _ = offline_grads(model, params, structure, window, f"snap1-{form}")
            out.append(_compare(f"snap1_{form}_diagonal_equals_bptt[{cell}]", got, want))
        return out


def check_numeric_mask_differs(cell: str, seed: int = 0) -> Check:
    """On a dense net with one-hot inputs, |I_t| > 0 drops the traces of inactive input columns."""
    with float64():
        model, params, structure, window = _setup(cell, seed)
        _, snap, _ = offline_grads(model, params, structure, window, "snap1-traces")
        _, numeric, _ = offline_grads(model, params, structure, window, "snap-numeric")
        err = rel_err(numeric, snap)
        return Check(f"numeric_mask_differs[{cell}]", bool(err > 1e-3),
                     f"snap-numeric differs from snap by {err:.2e} relative (must exceed 1e-3)")


def check_snap1_cut_equals_traces(cell: str, seed: int = 0) -> Check:
    with float64():
        model, params, structure, window = _setup(cell, seed)
        _, cut, _ = offline_grads(model, params, structure, window, "snap1-cut")
        _, traces, _ = offline_grads(model, params, structure, window, "snap1-traces")
        return _compare(f"snap1_cut_equals_traces[{cell}]", cut, traces)


def snapn_reference_grads(model, params, structure, window, n: int):
    """Dense masked SnAp-n, naively: J_t = M_n ⊙ (I_t + D_t J_{t-1}) with jacrev/jacfwd per example.

    The pattern is found numerically at a generic point (random state, a dense random input vector),
    where no structural nonzero of I or D vanishes by accident, then M_n = pattern(Σ_{r<n} D^r I).
    Independent of the neighbourhood tables the method uses. Cell gradients only. One compiled
    program per (model, n): a scan over time of the per-example step, vmapped over the batch.
    """
    return _reference_program(model, n)(params["cell"], params["readout"], structure["masks"], window)


@functools.lru_cache(maxsize=None)
def _reference_program(model, n: int):
    cell = get_cell(model.cell)
    C, k = cell.channels, model.units
    S = C * k

    def run(cell_params, readout, masks, window):
        theta, unravel = ravel_pytree(cell_params)

        def f(th, s_flat, x):
            p = apply_masks(unravel(th), masks)
            return cell.step(p, s_flat.reshape(C, k), x, matvec.dense).reshape(S)

        kp, ks, kx = jax.random.split(jax.random.key(123), 3)
        th_generic = theta + 0.3 * jax.random.normal(kp, theta.shape, theta.dtype)
        s_generic = jax.random.normal(ks, (S,), theta.dtype)
        x_generic = jax.random.normal(kx, (model.vocab_in,), theta.dtype)
        I_pat = (jnp.abs(jax.jacrev(f, 0)(th_generic, s_generic, x_generic)) > 0).astype(theta.dtype)
        D_pat = (jnp.abs(jax.jacfwd(f, 1)(th_generic, s_generic, x_generic)) > 0).astype(theta.dtype)
        M, term = I_pat, I_pat
        for _ in range(n - 1):
            term = jnp.minimum(D_pat @ term, 1.0)
            M = jnp.minimum(M + term, 1.0)

        T, B = window.y.shape

        def one_step(s, J, x, y, w, reset):
            s, J = jnp.where(reset, 0.0, s), jnp.where(reset, 0.0, J)
            J = M * (jax.jacrev(f, 0)(theta, s, x) + jax.jacfwd(f, 1)(theta, s, x) @ J)
            s = f(theta, s, x)
            delta_h = jax.grad(lambda h: readout_loss(readout, h[None], y[None], w[None])[0] / B)(s[:k])
            return s, J, delta_h @ J[:k]

        def body(carry, inputs):
            s, J, grad = carry
            s, J, g = jax.vmap(one_step)(s, J, *inputs)
            return (s, J, grad + jnp.sum(g, axis=0)), None

        init = (jnp.zeros((B, S), theta.dtype), jnp.zeros((B, S, theta.size), theta.dtype), jnp.zeros_like(theta))
        (_, _, grad), _ = jax.lax.scan(body, init, (window.x, window.y, window.weight, window.reset))
        return unravel(grad)

    return jax.jit(run)


def check_snapn_equals_reference(cell: str, n: int = 2, seed: int = 0, shared_masks: bool = True) -> Check:
    with float64():
        model, params, structure, window = _setup(cell, seed, sparse=True, shared_masks=shared_masks)
        _, got, _ = offline_grads(model, params, structure, window, f"snap{n}")
        want = snapn_reference_grads(model, params, structure, window, n)
        tag = "shared" if shared_masks else "per-gate"
        return _compare(f"snap{n}_equals_dense_reference[{cell},{tag}]", got["cell"], want)


def check_snapn_diameter_equals_rtrl(cell: str, seed: int = 0) -> Check:
    with float64():
        model, params, structure, window = _setup(cell, seed, sparse=True)
        n = model.units  # past any diameter of a k-node graph
        _, got, _ = offline_grads(model, params, structure, window, f"snap{n}")
        _, want, _ = offline_grads(model, params, structure, window, "rtrl")
        return _compare(f"snap{n}_past_diameter_equals_rtrl[{cell}]", got, want)


def check_snap2_dense_equals_rtrl(cell: str, seed: int = 0) -> Check:
    with float64():
        model, params, structure, window = _setup(cell, seed)
        _, got, _ = offline_grads(model, params, structure, window, "snap2")
        _, want, _ = offline_grads(model, params, structure, window, "rtrl")
        return _compare(f"snap2_dense_equals_rtrl[{cell}]", got, want)


# Relative error of the mean shrinks like 1/sqrt(draws): measured at seed 0 (k=4, T=4, B=3) about
# 0.03 (GRU), 0.06 (LSTM), 0.02 (RNN) with 16000 draws, and 0.12 / 0.21 / 0.06 with 1000.
UORO_DRAWS = 16000
UORO_TOL = 0.1


def check_uoro_unbiased(cell: str, seed: int = 0, draws: int = UORO_DRAWS, tol: float = UORO_TOL) -> Check:
    """Mean of `draws` UORO estimates (independent sign sequences) vs RTRL, cell gradients."""
    with float64():
        model, params, structure, window = _setup(cell, seed, hidden=4)
        window = jax.tree.map(lambda a: a[:4], window)
        _, want, _ = offline_grads(model, params, structure, window, "rtrl")
        method = make_method(model, "uoro-offline")
        B = window.y.shape[1]
        # Each draw is one offline call with its own key: the sign sequences are independent.

        def one(key):
            tables = method.prepare(structure)
            carry = method.init(params, structure, tables, B, key)
            return method.step(params, structure, tables, carry, window)[1]["cell"]

        keys = jax.random.split(jax.random.key(seed + 99), draws)
        mean = jax.tree.map(lambda g: jnp.mean(g, axis=0), jax.jit(jax.vmap(one))(keys))
        return _compare(f"uoro_unbiased[{cell}]", mean, want["cell"], tol=tol,
                        what=f"mean of {draws} draws vs rtrl: relative error")


ONLINE_METHODS = ("snap1", "rtrl", "snap2", "uoro")  # registry names without the mode


def check_online_equals_offline(cell: str, name: str, seed: int = 0) -> Check:
    """T=1 online calls with frozen parameters (a learning rate of 0) sum to one offline call."""
    with float64():
        model, params, structure, window = _setup(cell, seed, sparse=True)
        B = window.y.shape[1]
        key = jax.random.key(seed + 5)
        _, want, want_stats = offline_grads(model, params, structure, window, name, key=key)
        online = compiled(model, f"{name}-online")
        carry = online.init(params, structure, B, key)
        total, loss_sum = None, 0.0
        for t in range(window.y.shape[0]):
            piece = jax.tree.map(lambda a: a[t:t + 1], window)
            _, grads, carry, stats = online.step(params, structure, carry, piece)
            total = grads if total is None else jax.tree.map(jnp.add, total, grads)
            loss_sum += float(stats.loss_sum)
        check = _compare(f"online_equals_offline[{cell},{name}]", total, want)
        loss_ok = abs(loss_sum - float(want_stats.loss_sum)) < 1e-9 * abs(loss_sum)
        return check._replace(passed=check.passed and loss_ok)


def check_reset_equals_split(cell: str, name: str, seed: int = 0) -> Check:
    """A reset of every stream before step 4 = a window of 4 steps, then another from zero state.

    The second window continues the PRNG key of the first, so UORO draws the same signs.
    """
    with float64():
        model, params, structure, _ = _setup(cell, seed, sparse=True)
        window = random_window(jax.random.key(seed + 3), T=T_CHECK, B=B_CHECK, vocab=model.vocab_in,
                               reset_at=T_CHECK // 2)
        program = compiled(model, f"{name}-offline")
        carry = program.init(params, structure, B_CHECK, jax.random.key(seed + 5))
        _, whole, _, _ = program.step(params, structure, carry, window)
        half = T_CHECK // 2
        first = jax.tree.map(lambda a: a[:half], window)
        second = jax.tree.map(lambda a: a[half:], window)._replace(reset=jnp.zeros((half, B_CHECK), bool))
        _, g1, after, _ = program.step(params, structure, carry, first)
        fresh = program.init(params, structure, B_CHECK, after.key)
        _, g2, _, _ = program.step(params, structure, fresh, second)
        return _compare(f"reset_equals_split[{cell},{name}]", whole,
                        jax.tree.map(jnp.add, g1, g2))


@functools.lru_cache(maxsize=None)
def _bptt_probe_program(model):
    return jax.jit(functools.partial(bptt_window_grad, model))


def check_bptt_probe(cell: str, seed: int = 0) -> Check:
    """bptt_window_grad from a nonzero state equals the bptt method started from that state."""
    with float64():
        model, params, structure, window = _setup(cell, seed)
        state = 0.1 * jax.random.normal(jax.random.key(seed + 9), zero_state(model, B_CHECK).shape)
        _, want, _ = _bptt_probe_program(model)(params, structure, state, window)
        program = compiled(model, "bptt-offline")
        carry = program.init(params, structure, B_CHECK, jax.random.key(0))._replace(state=state)
        _, got, _, _ = program.step(params, structure, carry, window)
        return _compare(f"bptt_probe[{cell}]", got, want)


def verify(seed: int = 0, cells: tuple = CELLS, on_check: Optional[Callable[[Check], None]] = None) -> list[Check]:
    """Run every oracle check on every cell, on the default device. Returns one Check per comparison;
    `on_check` (if given) is called with each as soon as it finishes, so a caller can stream them."""
    checks: list[Check] = []

    def done(*results: Check) -> None:
        for check in results:
            checks.append(check)
            if on_check is not None:
                on_check(check)

    for cell in cells:
        done(check_rtrl_equals_bptt(cell, seed))
        done(*check_snap1_diagonal_equals_bptt(cell, seed))
        done(check_numeric_mask_differs(cell, seed))
        done(check_snap1_cut_equals_traces(cell, seed))
        done(check_snapn_equals_reference(cell, 2, seed))
        done(check_snapn_equals_reference(cell, 3, seed, shared_masks=False))
        done(check_snapn_diameter_equals_rtrl(cell, seed))
        done(check_snap2_dense_equals_rtrl(cell, seed))
        done(check_uoro_unbiased(cell, seed))
        for name in ONLINE_METHODS:
            done(check_online_equals_offline(cell, name, seed))
        done(check_reset_equals_split(cell, "snap1", seed))
        done(check_bptt_probe(cell, seed))
    return checks
