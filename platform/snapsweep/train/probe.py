"""Gradient-fidelity probe: how close is the method's gradient to the exact BPTT gradient?

What is compared, precisely. At a probe point each member draws a fresh probe window from the task
(`task.probe_window`, offline form: one LM crop, or one copy sequence per element at the current
level; drawn from the member's probe key, so the training data stream is untouched). Both
gradients are taken at the member's current parameters, from the zero recurrent state with zero
traces (J_0 = 0; every probe window starts with a reset, so this is also the state training would
use):

- reference: `rtrl.bptt_window_grad`, exact BPTT over the window;
- the method: its update mode's `window_grads` (rtrl.modes). Offline that is one `method.step`
  over the window, the gradient the trainer applies. Online it is the window one step at a time
  with the parameters held fixed and the per-step gradients summed: the method's approximation
  WITHOUT the staleness training adds (training changes the parameters between steps, so its
  traces mix old parameters); with fixed parameters online RTRL equals BPTT, so the probe isolates
  the approximation itself.

Only the recurrent cell's gradient is compared: the readout gradient is exact for every method and
would inflate the similarity. Metrics: grad_cosine = <g, g_bptt> / (|g| |g_bptt|) and
grad_norm_ratio = |g| / |g_bptt| over the flattened cell parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep import rtrl
from snapsweep.rtrl.modes import update_mode


def _flat(tree) -> jax.Array:
    return jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])


def make_probe(model: rtrl.ModelConfig, task, method: rtrl.Method):
    """-> probe(params, structure, tables, task_state, data, key) -> (cosine, norm_ratio) for ONE member."""
    batch = task.batch
    mode = update_mode(method.id)

    def probe(params, structure, tables, task_state, data, key):
        k_window, k_method = jax.random.split(key)
        window = task.probe_window(task_state, data, k_window)
        state0 = rtrl.zero_state(model, batch)
        _, ref, _ = rtrl.bptt_window_grad(model, params, structure, state0, window)
        got = mode.window_grads(method, params, structure, tables, window, k_method, batch)
        g, r = _flat(got["cell"]), _flat(ref["cell"])
        g_norm, r_norm = jnp.linalg.norm(g), jnp.linalg.norm(r)
        cosine = jnp.dot(g, r) / jnp.maximum(g_norm * r_norm, jnp.finfo(g.dtype).tiny)
        ratio = g_norm / jnp.maximum(r_norm, jnp.finfo(g.dtype).tiny)
        return cosine.astype(jnp.float32), ratio.astype(jnp.float32)

    return probe
