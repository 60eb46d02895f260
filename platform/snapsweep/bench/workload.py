"""The trainer's own update as a benchmark workload, on the spec's default model.

bench times `train.programs.run_chunk`, the compiled program the trainer runs (the method's step,
gradient normalisation, clipping where configured, the optimizer and the divergence guard, for a
vmapped pack of members), not a stand-in. Sized runs read random bytes with the character LM's
shapes, so no data set is needed on a bare accelerator machine.

bench runs where Pydantic is not installed, so the spec's defaults are restated here once
(MODEL_DEFAULTS, OPTIM_DEFAULTS); tests/bench checks them against `snapsweep.spec.models`.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from snapsweep.rtrl import ModelConfig
from snapsweep.rtrl.costs import TRACE_BUDGET_BYTES
from snapsweep.rtrl.registry import MethodId
from snapsweep.tasks import TextData, make_task
from snapsweep.tasks.config import TextTaskConfig
from snapsweep.train.config import OptimConfig
from snapsweep.train.programs import Program, init_pack, run_chunk
from snapsweep.train.state import counter_value

# `snapsweep.spec.models.Model()` and `Optim()` field by field (a test holds them equal).
MODEL_DEFAULTS = {"cell": "gru", "hidden": 128, "density": 1.0, "size_rule": "match", "shared_masks": True,
                  "mask_inputs": True, "input_kind": "onehot", "embed_dim": 0, "dtype": "float32"}
OPTIM_DEFAULTS = {"name": "adam", "lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "clip_norm": None}

VOCAB = 256  # bytes
_RANDOM_TEXT_BYTES = 1 << 20


def model_config(cell: str, hidden: int, density: float) -> ModelConfig:
    """The spec's default model at this cell, width and density, reading bytes."""
    return ModelConfig(**{**MODEL_DEFAULTS, "cell": cell, "hidden": hidden, "density": density},
                       vocab_in=VOCAB, vocab_out=VOCAB)


def optim_config() -> OptimConfig:
    return OptimConfig(**{k: v for k, v in OPTIM_DEFAULTS.items() if k != "lr"})


def random_text_task(batch: int, length: int):
    """A character-LM task of `batch` crops of `length` bytes over random bytes."""
    config = TextTaskConfig(kind="wikitext", source="hub", data_dir=None, hub_path="(random bytes)",
                            hub_name="bench", crop=length, batch=batch, holdout_fraction=0.1, valid_chars=None,
                            valid_batch=1)
    text = np.random.default_rng(0).integers(0, VOCAB, _RANDOM_TEXT_BYTES, dtype=np.uint8)
    return make_task(config, TextData(train=text, valid=text[:1024], origin="random bytes"))


def sized_program(cell: str, hidden: int, batch: int, length: int, method: MethodId, density: float,
                  task=None) -> Program:
    """The trainer's program at bench sizes; make_method's errors (budget, form) surface here."""
    program = Program(task=task if task is not None else random_text_task(batch, length),
                      model=model_config(cell, hidden, density), method=method, optim=optim_config(),
                      trace_budget_bytes=TRACE_BUDGET_BYTES)
    program.make_method()  # BudgetError / ConfigError now, before anything compiles
    return program


def updates_per_window(program: Program) -> int:
    """Updates that consume one window of the task (1 offline, the window length online)."""
    info = program.task.info
    return info.offline_steps // info.steps_per_update(program.method.online)


class Pack(NamedTuple):
    program: Program
    state: object  # TrainState with a member axis
    data: object  # the task's shared data
    chunk: object  # run_chunk compiled for this state: chunk(state, data, steps)


def compile_pack(program: Program, members: int, lr: float = OPTIM_DEFAULTS["lr"], seed: int = 0) -> Pack:
    """Members seed, seed + 1, ... at learning rate `lr`, and the chunk program compiled ahead of
    time (so timings exclude compilation and the executable reports its memory)."""
    keys = jnp.stack([jax.random.PRNGKey(seed + i) for i in range(members)])
    state = init_pack(keys, jnp.full((members,), lr, jnp.float32), program=program)
    data = program.task.shared_data()
    chunk = run_chunk.lower(state, data, np.int32(0), program=program).compile()
    return Pack(program, state, data, chunk)


# One call of the compiled chunk has a fixed price (flattening the state's arguments, dispatch):
# about half a millisecond on a CPU, more than a whole offline update of a small net. The trainer
# amortises it over a chunk of `log_every` updates, so bench times calls at least this long.
MIN_CALL_SECONDS = 0.05
MAX_WINDOWS_PER_CALL = 64


def windows_per_call(pack: Pack, updates: int) -> tuple[int, Pack]:
    """-> (windows of `updates` updates each that make one timed call last MIN_CALL_SECONDS or
    more, at most MAX_WINDOWS_PER_CALL; pack after), from one call of one window."""
    seconds, _, pack = time_pack(pack, updates, 1, best=True)
    return max(1, min(MAX_WINDOWS_PER_CALL, math.ceil(MIN_CALL_SECONDS / max(seconds, 1e-9)))), pack


def time_pack(pack: Pack, steps: int, repeats: int, best: bool = False) -> tuple[float, float, Pack]:
    """-> (median seconds of one chunk of `steps` updates, or the fastest with `best`, scored tokens
    it consumed, pack after). One untimed warm-up chunk runs first."""
    state = jax.block_until_ready(pack.chunk(pack.state, pack.data, np.int32(steps)))
    times, tokens = [], 0.0
    for _ in range(repeats):
        before = counter_value(state.tokens).sum()
        start = time.perf_counter()
        state = jax.block_until_ready(pack.chunk(state, pack.data, np.int32(steps)))
        times.append(time.perf_counter() - start)
        tokens = float(counter_value(state.tokens).sum() - before)
    return (min(times) if best else statistics.median(times)), tokens, pack._replace(state=state)
