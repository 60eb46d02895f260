"""One full training update (gradient method + Adam), jitted the way the trainer runs it.

Offline: one method call on the whole window, then one optimizer step. Online: a scan over the
window's steps, each a T=1 method call followed by an optimizer step (traces carried, stale params).
"""

from __future__ import annotations

import jax
import optax


def make_update(method, online: bool, learning_rate: float = 1e-3):
    opt = optax.adam(learning_rate)

    def apply(params, opt_state, grads):
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def offline(params, opt_state, structure, carry, window):
        loss, grads, carry, _ = method.step(params, structure, carry, window)
        params, opt_state = apply(params, opt_state, grads)
        return params, opt_state, carry, loss

    def online_update(params, opt_state, structure, carry, window):
        def body(c, w_t):
            params, opt_state, carry = c
            one = jax.tree.map(lambda a: a[None], w_t)
            loss, grads, carry, _ = method.step(params, structure, carry, one)
            params, opt_state = apply(params, opt_state, grads)
            return (params, opt_state, carry), loss

        (params, opt_state, carry), losses = jax.lax.scan(body, (params, opt_state, carry), window)
        return params, opt_state, carry, losses.sum()

    return opt, (online_update if online else offline)
