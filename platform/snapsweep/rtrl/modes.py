"""Update modes: what "offline" and "online" mean to a trainer, as objects instead of branches.

Offline: one update per window. The task yields a whole window (an LM crop, or one copy sequence
per element); the method sees it in one call, starting from J_0 = 0.
Online: one update per time step. The task yields a T = 1 window; the method's traces carry from
call to call while the parameters change under them (that staleness is part of RTRL and SnAp).

`update_mode(method_id)` returns the mode; the trainer's update and the gradient-fidelity probe
call `draw` and `window_grads` and never ask which mode they have.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from snapsweep.rtrl.registry import MethodId


@dataclass(frozen=True)
class UpdateMode:
    """Shared by both modes; `online` is data for reports and arithmetic, not for branching."""

    online: bool

    def draw(self, task, task_state, data):
        """-> (task_state, window): the window one update consumes."""
        raise NotImplementedError

    def window_grads(self, method, params, structure, tables, window, key, batch):
        """The method's gradient over one offline-shaped window, parameters held fixed, from zero
        state and zero traces (the probe's "method gradient")."""
        raise NotImplementedError


@dataclass(frozen=True)
class Offline(UpdateMode):
    online: bool = False

    def draw(self, task, task_state, data):
        return task.offline_window(task_state, data)

    def window_grads(self, method, params, structure, tables, window, key, batch):
        carry = method.init(params, structure, tables, batch, key)
        return method.step(params, structure, tables, carry, window)[1]


@dataclass(frozen=True)
class Online(UpdateMode):
    online: bool = True

    def draw(self, task, task_state, data):
        return task.online_window(task_state, data)

    def window_grads(self, method, params, structure, tables, window, key, batch):
        """One call per step, summed: the online approximation without the staleness training adds
        (with fixed parameters online RTRL equals BPTT)."""

        def body(acc_carry, step_window):
            acc, carry = acc_carry
            one = jax.tree.map(lambda a: a[None], step_window)
            _, grads, carry, _ = method.step(params, structure, tables, carry, one)
            return (jax.tree.map(jnp.add, acc, grads), carry), None

        carry = method.init(params, structure, tables, batch, key)
        zero = jax.tree.map(jnp.zeros_like, params)
        (grads, _), _ = jax.lax.scan(body, (zero, carry), window)
        return grads


OFFLINE, ONLINE = Offline(), Online()


def update_mode(method_id: MethodId) -> UpdateMode:
    return ONLINE if method_id.online else OFFLINE


__all__ = ["OFFLINE", "ONLINE", "Offline", "Online", "UpdateMode", "update_mode"]
