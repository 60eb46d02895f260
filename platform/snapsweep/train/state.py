"""`TrainState`: the one pytree that holds everything a pack needs to continue bit for bit.

Every leaf has a leading member axis M (members of a pack are vmapped). Nothing the trainer needs
to resume lives outside it: host-side objects only cache compiled programs and wall-clock timers.
On a trainer with devices=N (train/devices.py) that axis is split over the N devices and padded to
a multiple of N with copies of the last member; a checkpoint holds the M real members only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

STATUS_RUNNING = 0
STATUS_DIVERGED = 1

# Tokens are counted exactly in two int32 words (JAX runs without 64-bit integers by default and
# long LM runs pass 2**31 tokens): tokens = hi * 2**24 + lo.
_LO_BITS = 24


class Counter(NamedTuple):
    hi: jax.Array  # int32
    lo: jax.Array  # int32, < 2**24


def counter_zero() -> Counter:
    return Counter(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def counter_add(c: Counter, n) -> Counter:
    """Add a non-negative per-update amount (< 2**24, e.g. a window's token count)."""
    lo = c.lo + jnp.asarray(n, jnp.int32)
    return Counter(c.hi + (lo >> _LO_BITS), lo & ((1 << _LO_BITS) - 1))


def counter_value(c: Counter):
    """Host value(s) as Python int / numpy int64 (works on a stacked [M] counter too)."""
    import numpy as np

    return np.asarray(c.hi, np.int64) * (1 << _LO_BITS) + np.asarray(c.lo, np.int64)


class Progress(NamedTuple):
    """Loss accumulated since the last log boundary, and the last reported values."""

    loss_nats: jax.Array  # float32: Σ weight·CE over the updates since the last log
    loss_count: jax.Array  # float32: Σ weight over the same updates
    train_loss_bits: jax.Array  # float32: value at the last log (NaN before the first)
    valid_bpc: jax.Array  # float32: value at the last evaluation (NaN before the first, and for copy)


class TrainState(NamedTuple):
    """One pack's training state (leading member axis on every leaf)."""

    params: Any  # trainable: {"cell", "readout"[, "embed"]}
    opt_state: Any  # optax state; holds each member's learning rate (inject_hyperparams)
    structure: Any  # non-trainable model tables (masks), drawn from the member's seed
    carry: Any  # rtrl.Carry: recurrent state, method traces, method RNG key
    task: Any  # task state: data RNG and position, curriculum level and EMA
    clock: jax.Array  # int32: updates attempted (the pack's step; equal for every member)
    step: jax.Array  # int32: updates applied (stops when the member diverges)
    tokens: Counter  # scored tokens consumed by applied updates
    status: jax.Array  # int32: STATUS_RUNNING or STATUS_DIVERGED
    # int32: the 1-based update that produced a non-finite value, or the last update of the log
    # interval whose mean loss broke the divergence rule (train/loop.py); -1 if none.
    diverged_at: jax.Array
    key: jax.Array  # RNG for the gradient-fidelity probe (never used by training itself)
    progress: Progress


def new_progress() -> Progress:
    nan = jnp.asarray(jnp.nan, jnp.float32)
    zero = jnp.zeros((), jnp.float32)
    return Progress(loss_nats=zero, loss_count=zero, train_loss_bits=nan, valid_bpc=nan)
