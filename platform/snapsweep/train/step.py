"""One update of one member, and a chunk of updates of a whole pack (vmap inside a device loop).

What one update consumes is the update mode's to say (rtrl.modes: a whole window offline, one
time step online, with the traces carried across updates); this module never asks which.
The method's static tables (rtrl.types) are prepared once per chunk, outside the device loop.

Normalisation: a method returns loss = Σ_t Σ_b w·CE / B (summed over time). The optimizer gets
that gradient divided by count / B, the mean number of scored tokens per element (= the window
length when nothing is padded), i.e. the gradient of the mean per-token loss; online windows have
one token per element, so both modes see the same scale and the same learning rates apply.

Divergence: a non-finite loss, gradient, updated parameter or optimizer moment marks the member
diverged at that update. The update is then discarded: its parameters, optimizer state, task state
and counters stay as they were (frozen), so the others in the pack continue unaffected and the last
good parameters can still be inspected. Its carry (recurrent state and traces) is the failing
step's: nothing reads it again, and keeping the old one would cost a pass over the traces. The other
half of the divergence rule (a loss far above the task's trivial baseline) is judged per log
interval, not per update, in train/loop.py: one noisy update must not end a member.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from snapsweep import rtrl
from snapsweep.rtrl.modes import UpdateMode, update_mode
from snapsweep.train.state import STATUS_DIVERGED, STATUS_RUNNING, TrainState, counter_add

LN2 = math.log(2.0)


def all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def make_update(task, method: rtrl.Method, optimizer: optax.GradientTransformation,
                mode: UpdateMode | None = None) -> Callable:
    """-> update(state, tables, data) for ONE member (no member axis) -> TrainState.

    `tables`: the member's `method.prepare(state.structure)`. `mode` defaults to the method's own."""
    mode = update_mode(method.id) if mode is None else mode
    batch = task.batch

    def update(s: TrainState, tables, data) -> TrainState:
        running = s.status == STATUS_RUNNING
        task_state, window = mode.draw(task, s.task, data)
        loss, grads, carry, stats = method.step(s.params, s.structure, tables, s.carry, window)
        count = stats.count
        per_element = jnp.where(count > 0, count / batch, 1.0)
        grads = jax.tree.map(lambda g: g / per_element.astype(g.dtype), grads)
        updates, opt_state = optimizer.update(grads, s.opt_state, s.params)
        params = optax.apply_updates(s.params, updates)
        # Adam's second moment can overflow while the parameters stay finite: check it too.
        finite = jnp.isfinite(loss) & all_finite(grads) & all_finite(params) & all_finite(opt_state)
        ok = running & finite

        loss_bits = jnp.where(count > 0, stats.loss_sum / jnp.maximum(count, 1) / LN2, 0.0)
        # Float32 like the task's own state (a float64 model's counts would otherwise promote it).
        task_state = task.observe(task_state, loss_bits, per_element.astype(jnp.float32))
        progress = s.progress._replace(
            loss_nats=s.progress.loss_nats + stats.loss_sum.astype(jnp.float32),
            loss_count=s.progress.loss_count + count.astype(jnp.float32),
        )
        applied = s._replace(
            params=params, opt_state=opt_state, carry=carry, task=task_state, step=s.step + 1,
            tokens=counter_add(s.tokens, jnp.round(count).astype(jnp.int32)), progress=progress,
        )
        # Keep the old member unless this update is good (a select XLA fuses per leaf), all but
        # its carry: an update is dropped only for a member that is (now) diverged, whose carry no
        # later update uses, and selecting the traces would cost a pass over them (old and new both
        # read, and the old kept alive, so a copy) every update: as much as the trace update itself.
        kept = jax.tree.map(lambda new, old: jnp.where(ok, new, old), applied._replace(carry=()), s._replace(carry=()))
        out = kept._replace(carry=carry)
        newly_diverged = running & ~finite
        return out._replace(
            clock=s.clock + 1,
            status=jnp.where(newly_diverged, STATUS_DIVERGED, s.status).astype(jnp.int32),
            diverged_at=jnp.where(newly_diverged, s.step + 1, s.diverged_at).astype(jnp.int32),
        )

    return update


def make_chunk(update: Callable, prepare: Callable) -> Callable:
    """-> chunk(state, data, steps): `steps` updates of every member; members vmapped, data shared.

    `prepare`: the method's, run once per chunk on each member's structure. `steps` is a traced
    int32, so one compilation serves every chunk length (log, eval and probe intervals, a resumed
    run's first partial chunk)."""
    pack_update = jax.vmap(update, in_axes=(0, 0, None))

    def chunk(state: TrainState, data, steps) -> TrainState:
        tables = jax.vmap(prepare)(state.structure)
        return jax.lax.fori_loop(0, steps, lambda _, s: pack_update(s, tables, data), state)

    return chunk
