"""The pack's compiled programs: init, a chunk of updates, evaluation, the fidelity probe.

Each is a module-level `jax.jit` whose static argument is a `Program`: the hashable settings that
fix the computation (task settings, model, MethodId, optimizer, trace budget). Everything that varies between
members or over time (parameters, learning rates, data positions, keys) is an array argument. So
two trainers with equal settings share JAX's compilation cache instead of compiling twice (a pack
and its members run alone, a resumed trainer, the pack sizes of a benchmark with equal shapes).
The method's static tables are prepared inside each program from the members' structures (once
per call, outside any device loop), so they are never part of the state or a checkpoint.

The pack programs take a second static argument, `mesh` (devices.py): None runs the pack on one
device; a mesh runs the same function under `shard_map`, each device on its share of the members
(the member axis split, the shared data replicated), so nothing crosses between devices.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from snapsweep import rtrl
from snapsweep.rtrl.costs import TRACE_BUDGET_BYTES
from snapsweep.rtrl.registry import MethodId
from snapsweep.train.config import OptimConfig, TrainConfig
from snapsweep.train.devices import per_device
from snapsweep.train.evaluate import make_evaluate
from snapsweep.train.optim import init_opt_state, make_optimizer
from snapsweep.train.probe import make_probe
from snapsweep.train.state import TrainState, counter_zero, new_progress
from snapsweep.train.step import make_chunk, make_update


class Program(NamedTuple):
    task: Any  # a task object; equal (and hashed) by its settings
    model: rtrl.ModelConfig
    method: MethodId
    optim: OptimConfig
    trace_budget_bytes: int = TRACE_BUDGET_BYTES  # per example (rtrl.costs.check_budget)

    @classmethod
    def of(cls, config: TrainConfig, task) -> "Program":
        """The program of a resolved config, with its task object built from config.task."""
        return cls(task=task, model=config.model, method=config.method, optim=config.optim,
                   trace_budget_bytes=config.trace_budget_bytes)

    def make_method(self) -> rtrl.Method:
        return rtrl.make_method(self.model, self.method, budget_bytes=self.trace_budget_bytes)


def member_keys(key):
    """A member's seed key -> (model, method, data, probe) keys."""
    return jax.random.split(key, 4)


@partial(jax.jit, static_argnames=("model",))
def init_model(key, *, model: rtrl.ModelConfig):
    """(params, structure) of one member. Keyed by the model alone: drawing masks is costly to
    compile, and every method, task and pack size with this model shares the compilation."""
    return rtrl.init_model(model, member_keys(key)[0])


def _init_member(program: Program, method: rtrl.Method, key, lr, params, structure) -> TrainState:
    _, k_method, k_data, k_probe = member_keys(key)
    return TrainState(
        params=params,
        opt_state=init_opt_state(program.optim, params, lr),
        structure=structure,
        carry=method.init(params, structure, method.prepare(structure), program.task.batch, k_method),
        task=program.task.init(k_data),
        clock=jnp.zeros((), jnp.int32),
        step=jnp.zeros((), jnp.int32),
        tokens=counter_zero(),
        status=jnp.zeros((), jnp.int32),
        diverged_at=jnp.full((), -1, jnp.int32),
        key=k_probe,
        progress=new_progress(),
    )


@partial(jax.jit, static_argnames=("program",))
def _init_rest(key, lr, params, structure, *, program: Program) -> TrainState:
    return _init_member(program, program.make_method(), key, lr, params, structure)


def init_pack(keys, lrs, *, program: Program) -> TrainState:
    """keys [M, 2] (from each member's seed), lrs [M] -> TrainState with member axis M.

    Built member by member (not vmapped) so the compilations are shared by every pack size."""
    members = []
    for key, lr in zip(keys, lrs):
        params, structure = init_model(key, model=program.model)
        members.append(_init_rest(key, lr, params, structure, program=program))
    return jax.tree.map(lambda *xs: jnp.stack(xs), *members)


@partial(jax.jit, static_argnames=("program", "mesh"))
def run_chunk(state: TrainState, data, steps, *, program: Program, mesh=None) -> TrainState:
    """`steps` (an int32 scalar) updates of every member."""
    method = program.make_method()
    update = make_update(program.task, method, make_optimizer(program.optim))
    chunk = make_chunk(update, method.prepare)
    return per_device(chunk, mesh, (True, False, False))(state, data, steps)


@partial(jax.jit, static_argnames=("program", "mesh"))
def evaluate_pack(params, structure, windows, *, program: Program, mesh=None):
    """Validation bits per character [M] (a forward pass only); `windows` are the task's validation windows."""
    one = make_evaluate(program.model, program.make_method(), windows.x.shape[2])
    pack = jax.vmap(one, in_axes=(0, 0, None))
    return per_device(pack, mesh, (True, True, False))(params, structure, windows)


@partial(jax.jit, static_argnames=("program", "mesh"))
def probe_pack(params, structure, task_state, data, keys, *, program: Program, mesh=None):
    """(grad_cosine [M], grad_norm_ratio [M]) against exact BPTT; see probe.py."""
    method = program.make_method()
    one = make_probe(program.model, program.task, method)

    def pack(params, structure, task_state, data, keys):
        tables = jax.vmap(method.prepare)(structure)
        return jax.vmap(one, in_axes=(0, 0, 0, 0, None, 0))(params, structure, tables, task_state, data, keys)

    return per_device(pack, mesh, (True, True, True, False, True))(params, structure, task_state, data, keys)
