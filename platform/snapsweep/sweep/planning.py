"""`plan`: what `run` would do, and about how long it would take, without starting anything.

Two cost models, named in the output:

* static (default, pure Python): per update,
      time = T * c_step + M * T * flops_per_step / R
  with T the time steps of one update (`TaskInfo.steps_per_update`: 1 online, the task's window
  offline), M the pack's members, flops_per_step the batch's FLOPs per time step from the method's
  cost model (`rtrl.costs.cost`, the same numbers bench and the trace_bytes metric use), R a
  throughput and c_step a per-time-step dispatch overhead per device kind (table below, rough), plus
  evaluations (forward passes over the validation text, for tasks that evaluate), probes (one exact
  BPTT update each) and a start-up cost per pack (imports, data, compilation).
* measured (`measure=True`): each distinct pack is built on this machine and timed: start-up
  (Trainer, init, compilation of the first chunk) and seconds per update of a second chunk, plus one
  evaluation and one probe when the schedule has them. Costs a few seconds per distinct pack.

Estimates are device time of the packs still to run (the sum over packs; wall time is that divided
by how many packs run at once).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Optional

from snapsweep import settings
from snapsweep.errors import SnapsweepError
from snapsweep.rtrl import costs, registry
from snapsweep.sweep import work
from snapsweep.sweep.resources import TrialResources
from snapsweep.tasks.info import task_info

# device kind -> (R: FLOP/s, c_step: s per scanned time step, start-up s per pack). Orders of
# magnitude for small recurrent models, where dispatch overhead dominates; calibrate with measure=True.
STATIC_RATES = {
    "cpu": (2e9, 40e-6, 20.0),
    "gpu": (2e12, 15e-6, 40.0),
    "tpu": (2e13, 15e-6, 60.0),
}
MEASURE_STEPS = 5


@dataclass
class PackPlan:
    pack_id: str
    label: str
    members: int
    resources: str
    state: str  # "to run", "resumes at step N", "finished"
    steps: int  # updates still to do
    seconds: Optional[float]  # estimated device time of what is left


@dataclass
class Plan:
    name: str
    summary: str  # the plan line of `run`
    model: str  # which cost model, in words
    packs: list = field(default_factory=list)  # PackPlan, packs to run first
    tracking: str = ""

    @property
    def total_seconds(self) -> float:
        return sum(p.seconds or 0.0 for p in self.packs if p.state != "finished")

    def to_json(self) -> dict:
        """Machine-readable form (`snapsweep plan --json`); keys are stable."""
        return {"name": self.name, "summary": self.summary, "cost_model": self.model, "tracking": self.tracking,
                "total_seconds": self.total_seconds, "packs": [dataclasses.asdict(p) for p in self.packs]}

    def table(self) -> str:
        head = ["pack", "config", "members", "resources", "state", "updates left", "est. time"]
        rows = [[p.pack_id, p.label, str(p.members), p.resources, p.state, str(p.steps), _duration(p.seconds)]
                for p in self.packs]
        widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(len(head))]

        def line(cells):
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

        out = [f"sweep {self.name}: {self.summary}", ""]
        out.append(line(head))
        out.append(line(["-" * w for w in widths]))
        out.extend(line(r) for r in rows)
        out.append("")
        out.append(f"estimated device time to run: {_duration(self.total_seconds)} (sum over packs)")
        out.append(f"cost model: {self.model}")
        if self.tracking:
            out.append(self.tracking)
        return "\n".join(out)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def plan(spec_path_or_spec, *, tracking_uri: Optional[str] = None, storage: Optional[str] = None,
         address: Optional[str] = None, measure: bool = False) -> Plan:
    """Trials, packs, what finished (when the tracking store answers) and estimated device time.

    `address` (a Ray cluster) is checked for its shape only: planning connects to no cluster."""
    settings.ray_address(address)
    spec, path = work.load_spec(spec_path_or_spec, check_data=True)
    tracker, why = work.open_tracker(spec, tracking_uri)
    finished = None if why else set()
    if tracker is not None:
        try:
            finished = work.finished_ids(tracker, spec)
        except SnapsweepError as err:
            why = err.one_line()
    paths = work.sweep_paths(spec, storage)
    workload = work.build(spec, paths, finished, spec_path=path)
    resources = TrialResources.from_spec(spec.resources)
    kind = "tpu" if resources.tpu else "gpu" if resources.gpu else "cpu"
    estimate = _Measured() if measure else _Static(kind)

    rows = []
    for pack in workload.packs:
        start = workload.resume_steps.get(pack.id, 0)
        left = max(0, pack.config.schedule.steps - start)
        state = f"resumes at step {start}" if start else "to run"
        rows.append(PackPlan(pack.id, work.pack_label(pack), len(pack.trials), resources.label(), state, left,
                             estimate.seconds(pack, start)))
    running = {t.id for p in workload.packs for t in p.trials}
    for pack in workload.all_packs:
        ids = {t.id for t in pack.trials}
        if finished is not None and ids <= finished and not ids & running:
            rows.append(PackPlan(pack.id, work.pack_label(pack), len(pack.trials), resources.label(), "finished",
                                 0, None))
    tracking = "" if finished is not None else f"finished trials unknown: {why}"
    return Plan(spec.name, workload.plan_line(), estimate.describe(), rows, tracking)


# Validation characters assumed for a task that scores all of its validation text (WikiText-103's
# validation split is about 1.1 MB; the copy task has none).
DEFAULT_VALID_CHARS = 1_100_000
EXACT = registry.make_id("bptt")  # what the probe's reference gradient costs


def _counts(config, steps: int, start: int) -> tuple[int, int]:
    """(evaluations, probes) in updates start+1 .. steps."""
    s = config.schedule

    def points(every: int, at_end: bool) -> int:
        n = (steps // every - start // every) if every > 0 else 0
        if at_end and (every <= 0 or steps % every):
            n += 1
        return n

    evals = points(s.eval_every, True) if task_info(config.task).evaluates else 0
    return evals, points(s.probe_every, False)


class _Static:
    def __init__(self, kind: str):
        self.kind = kind
        self.rate, self.c_step, self.startup = STATIC_RATES[kind]

    def describe(self) -> str:
        return (f"static for {self.kind.upper()}: time/update = T*{self.c_step * 1e6:.0f}us + "
                f"members*T*flops/{self.rate:.0e} FLOP/s, flops per step from rtrl.costs, + evaluations, probes and "
                f"{self.startup:.0f}s start-up per pack (rough; sweep.plan(spec, measure=True) times this machine)")

    def seconds(self, pack, start: int) -> float:
        config = pack.config
        model, batch, members = config.model, config.task.batch, len(pack.trials)
        info = task_info(config.task)
        t = info.steps_per_update(config.method.online)
        per_step = costs.cost(config.method, model, batch).flops_per_step
        update = t * self.c_step + members * t * per_step / self.rate
        steps = config.schedule.steps
        evals, probes = _counts(config, steps, start)
        eval_s = 0.0
        if evals:
            chars = getattr(config.task, "valid_chars", None) or DEFAULT_VALID_CHARS
            streams = getattr(config.task, "valid_batch", batch)
            forward = costs.forward_flops(model, 1)
            eval_s = chars / streams * self.c_step + members * chars * forward / self.rate
        exact = info.steps_per_update(False)
        probe_s = exact * self.c_step + members * exact * costs.cost(EXACT, model, batch).flops_per_step / self.rate
        return self.startup + (steps - start) * update + evals * eval_s + probes * probe_s


class _Measured:
    """Times each distinct pack once (same config and member count share a measurement)."""

    def __init__(self):
        self._cache: dict = {}
        self.device = None

    def describe(self) -> str:
        return (f"measured on {self.device or 'this machine'}: start-up (trainer, init, first compile) + "
                f"updates x seconds/update of a {MEASURE_STEPS}-update chunk + evaluations and probes x their "
                f"measured time")

    def seconds(self, pack, start: int) -> float:
        config = pack.config
        key = (config, len(pack.trials))
        if key not in self._cache:
            self._cache[key] = self._measure(pack)
        startup, per_update, eval_s, probe_s = self._cache[key]
        evals, probes = _counts(config, config.schedule.steps, start)
        return startup + (config.schedule.steps - start) * per_update + evals * eval_s + probes * probe_s

    def _measure(self, pack) -> tuple[float, float, float, float]:
        import jax

        from snapsweep.train import Trainer

        s = pack.config.schedule
        # One long chunk: no log, evaluation or probe boundary inside the timed updates.
        quiet = dataclasses.replace(pack.config, schedule=dataclasses.replace(
            s, steps=10**9, log_every=10**9, eval_every=0, probe_every=0, checkpoint_every=0))
        began = time.perf_counter()
        trainer = Trainer(quiet, pack.members)
        state = trainer.advance(trainer.init(), MEASURE_STEPS)
        jax.block_until_ready(state)
        first = time.perf_counter() - began
        began = time.perf_counter()
        state = jax.block_until_ready(trainer.advance(state, MEASURE_STEPS))
        per_update = (time.perf_counter() - began) / MEASURE_STEPS
        startup = max(0.0, first - MEASURE_STEPS * per_update)
        eval_s = probe_s = 0.0
        if task_info(pack.config.task).evaluates:
            eval_s = _timed_twice(lambda: trainer.evaluate(state))
        if s.probe_every > 0:
            probe_s = _timed_twice(lambda: trainer.probe(state))
        device = jax.devices()[0]
        self.device = f"{device.platform}:{getattr(device, 'device_kind', '')}"
        return startup, per_update, eval_s, probe_s


def _timed_twice(fn) -> float:
    """Seconds of the second call (the first compiles)."""
    import jax

    jax.block_until_ready(fn())
    began = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - began
