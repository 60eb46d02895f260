"""`Trainer`: a pack of members (same shapes, own seed and learning rate) trained as one program.

`advance` runs compiled chunks of updates (a loop on the device, see programs.run_chunk) whose ends
are the pack's log, evaluation and probe points (multiples of their intervals, and the end of the
schedule); after each chunk it builds one metric record per member and hands the list to
`on_metrics`. The trainer knows nothing of MLflow or Ray, nor which task or method it runs: it asks
the task (`tasks.protocol.Task`, its `info`) and the method (`rtrl.Method`) instead.

`devices=N` (N > 1) shards the pack's member axis over the first N local devices (the GPUs or TPU
chips the trial holds; devices.py): each device trains its share of the members, the shared data
is replicated, and results equal the one-device pack member for member. A pack that does not
divide evenly is padded with copies of its last member (their results are dropped), so the state
`init`/`advance` hand around has `placement.padded` rows; records, `summary`, `evaluate`, `probe`
and checkpoints hold the real members only, and a checkpoint resumes on any device count.
devices None or 1 is the single-device path.

Divergence by loss (`config.divergence_factor`): at each log point, a running member whose mean
training loss over the interval exceeds factor × the task's trivial loss (log2(vocab) bits, a
uniform predictor) is marked diverged at its last applied update, and step.py freezes it from then
on, as it does a member that produced a non-finite value. Judged on state values at fixed
boundaries, so a resumed pack decides exactly as an uninterrupted one.
"""

from __future__ import annotations

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
from snapsweep.train.devices import Placement
from snapsweep.train.programs import Program, evaluate_pack, init_pack, probe_pack, run_chunk
from snapsweep.train.state import STATUS_DIVERGED, STATUS_RUNNING, TrainState, counter_value
from snapsweep.train.step import LN2
from snapsweep.train.validate import validate

MetricsCallback = Callable[[list], None]


class Trainer:
    def __init__(self, config: TrainConfig, members: Sequence[Member], *, task=None,
                 devices: Optional[int] = None):
        """`task`: an already-built task for these same task settings (saves re-reading the text,
        e.g. across the pack sizes of a benchmark); normally left out. `devices`: how many local
        devices the pack's members are sharded over (see the module docstring); None or 1: one."""
        validate(config, members)  # typed errors before anything is loaded or compiled
        self.config = config
        self.members = tuple(members)
        self.placement = Placement.of(len(self.members), devices)
        self.model = config.model
        # Before the data: the method refuses what it cannot run (over budget, ...) without loading it.
        self.method = rtrl.make_method(self.model, config.method, budget_bytes=config.trace_budget_bytes)
        # Loads the text when needed (DataError: unreachable hub, missing files, crop > data, ...).
        self.task = task if task is not None else make_task(config.task)
        self.data = self.placement.replicate(self.task.shared_data())
        self.program = Program.of(config, self.task)
        self.fingerprint = checkpoint.fingerprint(self.fingerprint_settings())
        # What the method's state holds for the whole batch (logged as trace_bytes).
        self.trace_bytes = self.method.cost(self.task.batch).trace_bytes
        self._chunk = None  # the compiled chunk program (one for every chunk length)
        self._valid = None
        self._timer = _RateTimer()

    # ------------------------------------------------------------------ state

    def fingerprint_settings(self) -> dict:
        """What shapes the state and its meaning. The schedule and the trace budget are left out on
        purpose: resuming with more steps, other log/eval intervals or a larger budget continues the
        same run. So is the divergence factor: it changes nothing before a member is marked, and a
        member marked stays marked whatever factor the resumed run has."""
        settings = self.config.to_dict()
        settings.pop("schedule")
        settings.pop("trace_budget_bytes")
        settings.pop("divergence_factor")
        return {"format": checkpoint.FORMAT, "settings": settings,
                "members": [{"seed": m.seed, "lr": m.lr} for m in self.members]}

    def init(self) -> TrainState:
        """The pack's first state, placed on the trainer's devices (padded, see the module docstring)."""
        return self.placement.place(self.placement.pad(self._init_members()))

    def _init_members(self) -> TrainState:
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
            # Host-side edits at a boundary may leave a leaf off the mesh; the compiled program
            # takes exactly the placement it was compiled for.
            state = self.placement.place(state)
            tokens_before = counter_value(state.tokens)
            run = self.compile(state)
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

    def compile(self, state: TrainState):
        """The compiled chunk program (compiled on the first call, then kept): ahead of time, so
        chunk timings (tokens/s) exclude compilation, and a caller can show compilation as its own
        phase by calling this before the first `advance`."""
        if self._chunk is None:
            self._chunk = run_chunk.lower(state, self.data, np.int32(0), program=self.program,
                                          mesh=self.placement.mesh).compile()
        return self._chunk

    def _is_point(self, clock: int, every: int, at_end: bool) -> bool:
        s = self.config.schedule
        return (every > 0 and clock % every == 0) or (at_end and clock == s.steps)

    def _boundary(self, state: TrainState, clock: int, on_metrics) -> TrainState:
        s = self.config.schedule
        log = self._is_point(clock, s.log_every, True)
        evaluate = self.task.info.evaluates and self._is_point(clock, s.eval_every, True)
        probe = self._is_point(clock, s.probe_every, False)
        if not (log or evaluate or probe):
            return state  # an advance() that stops between points: accumulators carry on
        extra: dict = {}
        if evaluate:
            bpc = self._evaluate(state)
            state = state._replace(progress=state.progress._replace(valid_bpc=bpc))
            extra["valid_bpc"] = np.asarray(bpc)
        if probe:
            cosine, ratio = self._probe(state)
            extra["grad_cosine"], extra["grad_norm_ratio"] = np.asarray(cosine), np.asarray(ratio)
        if log:
            p = state.progress
            loss = jnp.where(p.loss_count > 0, p.loss_nats / jnp.maximum(p.loss_count, 1) / LN2, jnp.nan)
            state = state._replace(progress=p._replace(
                loss_nats=jnp.zeros_like(p.loss_nats), loss_count=jnp.zeros_like(p.loss_count),
                train_loss_bits=loss.astype(jnp.float32)))
            extra["train_loss_bits"] = np.asarray(loss)
            state = self._diverge_above(state, loss)
        if on_metrics is not None:
            on_metrics(self._records(state, clock, extra, log))
        return state

    def _diverge_above(self, state: TrainState, loss: jax.Array) -> TrainState:
        """Mark running members whose interval loss broke the divergence rule (module docstring).
        A member with no loss this interval (NaN) is not judged."""
        factor = self.config.divergence_factor
        if factor is None:
            return state
        over = (state.status == STATUS_RUNNING) & (loss > factor * self.task.info.trivial_bits)
        return state._replace(
            status=jnp.where(over, STATUS_DIVERGED, state.status).astype(jnp.int32),
            diverged_at=jnp.where(over, state.step, state.diverged_at).astype(jnp.int32))

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
        """Validation bits per character of every member ([M] float32), on the task's held-out
        windows; only for a task that evaluates (`task.info.evaluates`)."""
        return self.placement.real(self._evaluate(state))

    def probe(self, state: TrainState):
        """Gradient fidelity against exact BPTT: (cosine [M], norm ratio [M]); see probe.py."""
        return self.placement.real(self._probe(state))

    def _evaluate(self, state: TrainState) -> jax.Array:
        if not self.task.info.evaluates:
            raise ValueError(f"the {self.task.info.kind} task has no validation set to evaluate")
        if self._valid is None:
            self._valid = self.placement.replicate(jax.tree.map(jnp.asarray, self.task.valid))
        return evaluate_pack(state.params, state.structure, self._valid, program=self.program,
                             mesh=self.placement.mesh)

    def _probe(self, state: TrainState):
        keys = jax.vmap(jax.random.fold_in)(state.key, state.clock)
        return probe_pack(state.params, state.structure, state.task, self.data, keys, program=self.program,
                          mesh=self.placement.mesh)

    # ------------------------------------------------------------ checkpoint

    def save(self, path: str, state: TrainState, meta: dict) -> None:
        """The real members only, gathered to the host: the file does not depend on the devices."""
        checkpoint.save(path, self.placement.real(state), meta, self.fingerprint,
                        settings=self.fingerprint_settings())

    def load(self, path: str):
        """-> (state placed on this trainer's devices, meta), whatever devices saved it."""
        template = jax.eval_shape(self._init_members)
        state, meta = checkpoint.load(path, template, self.fingerprint)
        return self.placement.place(self.placement.pad(state)), meta

    def save_member(self, path: str, state: TrainState, member: int, meta: dict) -> None:
        """Member `member`'s state alone, loadable by a one-member Trainer with that member."""
        one = jax.tree.map(lambda x: x[member:member + 1], state)
        settings = self.fingerprint_settings()
        settings = {**settings, "members": [settings["members"][member]]}
        checkpoint.save(path, one, meta, checkpoint.fingerprint(settings), settings=settings)

    # --------------------------------------------------------------- summary

    def summary(self, state: TrainState) -> list:
        clock = np.asarray(state.clock)
        steps = np.asarray(state.step)
        status = np.asarray(state.status)
        diverged_at = np.asarray(state.diverged_at)
        tokens = counter_value(state.tokens)
        loss = np.asarray(state.progress.train_loss_bits)
        # Where each of the task's summary metrics comes from: the task's own metrics, or evaluation.
        values = {k: np.asarray(v) for k, v in jax.vmap(self.task.metrics)(state.task).items()}
        values["valid_bpc"] = np.asarray(state.progress.valid_bpc)
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
            for name in self.task.info.summary_metrics:
                row[name] = _summary_value(values[name][i])
            out.append(row)
        return out


def _finite_or_none(x) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def _summary_value(x):
    """Counts (a curriculum level) stay integers; measurements are floats, None where not finite."""
    return int(x) if np.issubdtype(np.asarray(x).dtype, np.integer) else _finite_or_none(x)


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
