"""`Trainer`: a pack of members (same shapes, own seed and learning rate) trained as one program.

`advance` runs compiled chunks of updates (a loop on the device, see programs.run_chunk) whose ends
are the pack's log, evaluation and probe points (multiples of their intervals, and the end of the
schedule); after each chunk it builds one metric record per member and hands the list to
`on_metrics`. The trainer knows nothing of MLflow or Ray.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from snapsweep import rtrl
from snapsweep.tasks import make_task
from snapsweep.train import checkpoint
from snapsweep.train.config import Member, TrainConfig
from snapsweep.train.programs import Program, evaluate_pack, init_pack, probe_pack, run_chunk
from snapsweep.train.state import STATUS_DIVERGED, TrainState, counter_value
from snapsweep.train.step import LN2
from snapsweep.train.validate import validate

MetricsCallback = Callable[[list], None]


class Trainer:
    def __init__(self, config: TrainConfig, members: Sequence[Member], *, task=None):
        """`task`: an already-built task for these same task settings (saves re-reading the text,
        e.g. across the pack sizes of a benchmark); normally left out."""
        validate(config, members)  # typed errors before anything is loaded or compiled
        self.config = config
        self.members = tuple(members)
        # Loads the text when needed (DataError: unreachable hub, missing files, crop > data, ...).
        self.task = task if task is not None else make_task(config.task)
        self.model = config.model
        self.method = rtrl.make_method(self.model, config.method.name, config.method.n, config.method.mode)
        self.data = self.task.shared_data()
        self.program = Program(task=self.task, model=self.model, method=config.method, optim=config.optim)
        self.fingerprint = checkpoint.fingerprint(self.fingerprint_settings())
        self.trace_bytes = (self.method.trace_numbers(self.model) * self.task.batch
                            * np.dtype(self.model.dtype).itemsize)
        self._chunk = None  # the compiled chunk program (one for every chunk length)
        self._valid = None
        self._timer = _RateTimer()

    # ------------------------------------------------------------------ state

    def fingerprint_settings(self) -> dict:
        """What shapes the state and its meaning. The schedule is left out on purpose: resuming
        with more steps or other log/eval intervals continues the same run."""
        settings = self.config.to_dict()
        settings.pop("schedule")
        return {"format": checkpoint.FORMAT, "settings": settings,
                "members": [{"seed": m.seed, "lr": m.lr} for m in self.members]}

    def init(self) -> TrainState:
        keys = jnp.stack([jax.random.PRNGKey(m.seed) for m in self.members])
        lrs = jnp.asarray([m.lr for m in self.members], jnp.float32)
        return init_pack(keys, lrs, program=self.program)

    # --------------------------------------------------------------- training

    def advance(self, state: TrainState, steps: int, on_metrics: Optional[MetricsCallback] = None) -> TrainState:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative int, got {steps!r}")
        clock = int(state.clock[0])
        target = clock + steps
        while clock < target:
            end = self._next_boundary(clock, target)
            tokens_before = counter_value(state.tokens)
            run = self._compiled_chunk(state)
            start = time.perf_counter()
            state = run(state, self.data, np.int32(end - clock))
            jax.block_until_ready(state)
            self._timer.add(time.perf_counter() - start, counter_value(state.tokens) - tokens_before)
            clock = end
            state = self._boundary(state, clock, on_metrics)
        return state

    def _next_boundary(self, clock: int, target: int) -> int:
        s = self.config.schedule
        ends = [target]
        for every in (s.log_every, s.eval_every, s.probe_every):
            if every > 0:
                ends.append((clock // every + 1) * every)
        if s.steps > clock:
            ends.append(s.steps)
        return min(ends)

    def _compiled_chunk(self, state):
        """Compiled ahead of time, so chunk timings (tokens/s) exclude compilation."""
        if self._chunk is None:
            self._chunk = run_chunk.lower(state, self.data, np.int32(0), program=self.program).compile()
        return self._chunk

    def _is_point(self, clock: int, every: int, at_end: bool) -> bool:
        s = self.config.schedule
        return (every > 0 and clock % every == 0) or (at_end and clock == s.steps)

    def _boundary(self, state: TrainState, clock: int, on_metrics) -> TrainState:
        s = self.config.schedule
        log = self._is_point(clock, s.log_every, True)
        evaluate = self.task.kind == "wikitext" and self._is_point(clock, s.eval_every, True)
        probe = self._is_point(clock, s.probe_every, False)
        if not (log or evaluate or probe):
            return state  # an advance() that stops between points: accumulators carry on
        extra: dict = {}
        if evaluate:
            bpc = self.evaluate(state)
            state = state._replace(progress=state.progress._replace(valid_bpc=bpc))
            extra["valid_bpc"] = np.asarray(bpc)
        if probe:
            cosine, ratio = self.probe(state)
            extra["grad_cosine"], extra["grad_norm_ratio"] = np.asarray(cosine), np.asarray(ratio)
        if log:
            p = state.progress
            loss = jnp.where(p.loss_count > 0, p.loss_nats / jnp.maximum(p.loss_count, 1) / LN2, jnp.nan)
            state = state._replace(progress=p._replace(
                loss_nats=jnp.zeros_like(p.loss_nats), loss_count=jnp.zeros_like(p.loss_count),
                train_loss_bits=loss.astype(jnp.float32)))
            extra["train_loss_bits"] = np.asarray(loss)
        if on_metrics is not None:
            on_metrics(self._records(state, clock, extra, log))
        return state

    def _records(self, state: TrainState, clock: int, extra: dict, log: bool) -> list:
        tokens = counter_value(state.tokens)
        status = np.asarray(state.status)
        task_metrics = {k: np.asarray(v) for k, v in jax.vmap(self.task.metrics)(state.task).items()}
        per_s = self._timer.take() if log else None
        records = []
        for i in range(len(self.members)):
            metrics = {k: float(v[i]) for k, v in extra.items()}
            if log:
                metrics.update({k: float(v[i]) for k, v in task_metrics.items()})
                metrics["tokens"] = float(tokens[i])
                metrics["tokens_per_s"] = float(per_s[i]) if per_s is not None else 0.0
                metrics["trace_bytes"] = float(self.trace_bytes)
            metrics["status"] = float(status[i])
            records.append({"member": i, "step": clock, "metrics": metrics})
        return records

    # ------------------------------------------------------ evaluation, probe

    def evaluate(self, state: TrainState) -> jax.Array:
        """Validation bits per character of every member ([M] float32); LM only."""
        if self.task.kind != "wikitext":
            raise ValueError("evaluation is defined for the character LM only")
        if self._valid is None:
            self._valid = jax.tree.map(jnp.asarray, self.task.valid)
        return evaluate_pack(state.params, state.structure, self._valid, program=self.program)

    def probe(self, state: TrainState):
        """Gradient fidelity against exact BPTT: (cosine [M], norm ratio [M]); see probe.py."""
        keys = jax.vmap(jax.random.fold_in)(state.key, state.clock)
        return probe_pack(state.params, state.structure, state.task, self.data, keys, program=self.program)

    # ------------------------------------------------------------ checkpoint

    def save(self, path: str, state: TrainState, meta: dict) -> None:
        checkpoint.save(path, state, meta, self.fingerprint, settings=self.fingerprint_settings())

    def load(self, path: str):
        template = jax.eval_shape(self.init)
        return checkpoint.load(path, template, self.fingerprint)

    # --------------------------------------------------------------- summary

    def summary(self, state: TrainState) -> list:
        clock = np.asarray(state.clock)
        steps = np.asarray(state.step)
        status = np.asarray(state.status)
        diverged_at = np.asarray(state.diverged_at)
        tokens = counter_value(state.tokens)
        loss = np.asarray(state.progress.train_loss_bits)
        bpc = np.asarray(state.progress.valid_bpc)
        task_metrics = {k: np.asarray(v) for k, v in jax.vmap(self.task.metrics)(state.task).items()}
        out = []
        for i, m in enumerate(self.members):
            if status[i] == STATUS_DIVERGED:
                st = "diverged"
            elif clock[i] >= self.config.schedule.steps:
                st = "finished"
            else:
                st = "running"
            row = {
                "member": i,
                "seed": m.seed,
                "lr": m.lr,
                "status": st,
                "steps": int(steps[i]),
                "tokens": int(tokens[i]),
                "diverged_at_step": int(diverged_at[i]) if status[i] == STATUS_DIVERGED else None,
                "train_loss_bits": _finite_or_none(loss[i]),
            }
            if self.task.kind == "copy":
                row["curriculum_level"] = int(task_metrics["curriculum_level"][i])
            else:
                row["valid_bpc"] = _finite_or_none(bpc[i])
            out.append(row)
        return out


def _finite_or_none(x) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


class _RateTimer:
    """Wall time and tokens since the last log, for tokens/s (host-side: not part of the state)."""

    def __init__(self):
        self.seconds = 0.0
        self.tokens = None

    def add(self, seconds: float, tokens) -> None:
        self.seconds += seconds
        self.tokens = tokens if self.tokens is None else self.tokens + tokens

    def take(self):
        if self.tokens is None or self.seconds <= 0:
            return None
        rate = np.asarray(self.tokens, np.float64) / self.seconds
        self.seconds, self.tokens = 0.0, None
        return rate


def replace_schedule(config: TrainConfig, **changes) -> TrainConfig:
    return dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, **changes))
