"""`plan`: what `run` would do, and about how long it would take, without starting anything.

Two cost models, named in the output:

* static (default, pure Python): per update,
      time = rtrl.costs.update_seconds(cost, rates, T, M)
           = kernels x latency + M x (bytes / bandwidth + FLOPs / product rate) per time step, times T,
             + the optimizer's kernels and bytes once per update
  with T the time steps of one update (`TaskInfo.steps_per_update`: 1 online, the task's window
  offline), M the pack's members, and the method's own cost (`rtrl.costs.cost`: bytes moved, FLOPs
  and their product shapes, kernels; the same numbers bench and the trace_bytes metric use). The
  rates are the ones `snapsweep bench` measured and saved (RATES_FILE under the storage root, or a
  given file) when they exist, else guesses per device kind, and the plan says which. Plus
  evaluations (forward passes over the validation text, for tasks that evaluate), probes (one exact
  BPTT update each) and a start-up cost per pack (imports, data, compilation).
* measured (`measure=True`): each distinct pack is built on this machine and timed: start-up
  (Trainer, init, compilation of the first chunk) and seconds per update of a second chunk, plus one
  evaluation and one probe when the schedule has them. Costs a few seconds per distinct pack.

Estimates are device time of the packs still to run (device-hours: the sum over packs) and the wall
time on a number of devices (packs run side by side, each on the devices its resources name,
longest first). A pack that would run longer than SLOW_PACK_HOURS on the priced device is flagged.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import os
import time
from dataclasses import dataclass, field
from typing import Optional

from snapsweep import settings
from snapsweep.errors import ConfigError, SnapsweepError
from snapsweep.rtrl import costs, registry
from snapsweep.sweep import work
from snapsweep.sweep.resources import TrialResources
from snapsweep.tasks.info import task_info

# Start-up per pack (imports, data, compilation), by device kind; rough, bench does not measure it.
STARTUP_SECONDS = {"cpu": 20.0, "gpu": 40.0, "tpu": 60.0}
RATES_FILE = "device-rates.json"  # under the storage root, written by `snapsweep bench`
SLOW_PACK_HOURS = 24.0  # a pack longer than this on the priced device is flagged as too slow there
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
    devices: int = 1  # devices the pack holds while it runs
    too_slow: bool = False  # longer than SLOW_PACK_HOURS on the priced device


@dataclass
class Plan:
    name: str
    summary: str  # the plan line of `run`
    model: str  # which cost model, in words
    packs: list = field(default_factory=list)  # PackPlan, packs to run first
    tracking: str = ""
    devices: int = 1  # devices the wall time assumes

    @property
    def total_seconds(self) -> float:
        return sum(p.seconds or 0.0 for p in self.packs if p.state != "finished")

    @property
    def device_hours(self) -> float:
        """Device time of what is left, counting every device a pack holds."""
        return sum((p.seconds or 0.0) * p.devices for p in self.packs if p.state != "finished") / 3600

    @property
    def wall_seconds(self) -> float:
        """Wall time on `devices` devices: packs start longest first, each when enough devices are
        free (a pack needing more devices than there are runs alone, on all of them)."""
        todo = sorted((p for p in self.packs if p.state != "finished"), key=lambda p: -(p.seconds or 0.0))
        if not todo:
            return 0.0
        slots = max(1, self.devices // max(p.devices for p in todo))
        ends = [0.0] * slots
        for p in todo:
            heapq.heappush(ends, heapq.heappop(ends) + (p.seconds or 0.0))
        return max(ends)

    def to_json(self) -> dict:
        """Machine-readable form (`snapsweep plan --json`); keys are stable."""
        return {"name": self.name, "summary": self.summary, "cost_model": self.model, "tracking": self.tracking,
                "total_seconds": self.total_seconds, "device_hours": self.device_hours, "devices": self.devices,
                "wall_seconds": self.wall_seconds, "packs": [dataclasses.asdict(p) for p in self.packs]}

    def table(self) -> str:
        head = ["pack", "config", "members", "resources", "state", "updates left", "device-hours", ""]
        rows = [[p.pack_id, p.label, str(p.members), p.resources, p.state, str(p.steps), _hours(p.seconds, p.devices),
                 f"too slow here (> {SLOW_PACK_HOURS:g} h)" if p.too_slow else ""]
                for p in self.packs]
        widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(len(head))]

        def line(cells):
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

        out = [f"sweep {self.name}: {self.summary}", ""]
        out.append(line(head))
        out.append(line(["-" * w for w in widths]))
        out.extend(line(r) for r in rows)
        out.append("")
        out.append(f"estimated device time to run: {self.device_hours:,.2f} device-hours "
                   f"({_duration(self.total_seconds)} summed over packs)")
        out.append(f"wall time on {self.devices} device{'s' if self.devices != 1 else ''}: "
                   f"{_duration(self.wall_seconds)}")
        slow = sum(p.too_slow for p in self.packs)
        if slow:
            out.append(f"{slow} pack{'s' if slow != 1 else ''} would take more than {SLOW_PACK_HOURS:g} h each on "
                       f"the priced device: run them on faster devices, or shrink them")
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


def _hours(seconds: Optional[float], devices: int) -> str:
    return "-" if seconds is None else f"{seconds * devices / 3600:,.3g} ({_duration(seconds)})"


def plan(spec_path_or_spec, *, tracking_uri: Optional[str] = None, storage: Optional[str] = None,
         address: Optional[str] = None, measure: bool = False, devices: Optional[int] = None,
         rates_file: Optional[str] = None) -> Plan:
    """Trials, packs, what finished (when the tracking store answers) and estimated device time.

    `address` (a Ray cluster) is checked for its shape only: planning connects to no cluster.
    `devices`: how many devices the wall time assumes (default: what one pack holds, so packs run
    one after another). `rates_file`: rates saved by `snapsweep bench` (default: RATES_FILE under
    the storage root, when it exists)."""
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
    estimate = _Measured() if measure else _Static(kind, load_rates(rates_file or _default_rates(paths.root), kind))
    held = spec.resources.devices
    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int) or devices < 1):
        raise ConfigError(f"devices must be a positive integer, got {devices!r}", where="plan --devices",
                          fix="e.g. --devices 8")

    rows = []
    for pack in workload.packs:
        start = workload.resume_steps.get(pack.id, 0)
        left = max(0, pack.config.schedule.steps - start)
        state = f"resumes at step {start}" if start else "to run"
        seconds = estimate.seconds(pack, start)
        rows.append(PackPlan(pack.id, work.pack_label(pack), len(pack.trials), resources.label(), state, left,
                             seconds, held, seconds > SLOW_PACK_HOURS * 3600))
    running = {t.id for p in workload.packs for t in p.trials}
    for pack in workload.all_packs:
        ids = {t.id for t in pack.trials}
        if finished is not None and ids <= finished and not ids & running:
            rows.append(PackPlan(pack.id, work.pack_label(pack), len(pack.trials), resources.label(), "finished",
                                 0, None, held))
    tracking = "" if finished is not None else f"finished trials unknown: {why}"
    return Plan(spec.name, workload.plan_line(), estimate.describe(), rows, tracking, devices or held)


def _default_rates(root: str) -> Optional[str]:
    return None if "://" in root else os.path.join(root, RATES_FILE)


def load_rates(path: Optional[str], kind: str) -> costs.Rates:
    """Rates saved by `snapsweep bench` at `path`, else the guesses for this device kind."""
    if path and os.path.isfile(path):
        try:
            with open(path) as handle:
                return costs.Rates.from_json(json.load(handle))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"cannot read device rates from {path}: {err}", where="plan --rates",
                              fix="re-run `snapsweep bench --rates FILE` on the device, or delete the file") from None
    return costs.GUESSED_RATES[kind]


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
    def __init__(self, kind: str, rates: costs.Rates):
        self.kind, self.rates = kind, rates
        self.startup = STARTUP_SECONDS[kind]

    def describe(self) -> str:
        r = self.rates
        where = (f"rates measured on {r.device} at {r.measured_at}" if r.measured_at else
                 f"rates are guesses for a {self.kind.upper()} (run `snapsweep bench` on the device to measure them)")
        return (f"static for {self.kind.upper()}: per time step kernels x {r.op_seconds * 1e6:.2f}us + members x "
                f"(bytes / {r.bandwidth / 1e9:.0f} GB/s + FLOPs / product rate at their shape), from rtrl.costs, "
                f"+ the optimizer per update, evaluations, probes and {self.startup:.0f}s start-up per pack; "
                f"{where}")

    def seconds(self, pack, start: int) -> float:
        config = pack.config
        model, batch, members = config.model, config.task.batch, len(pack.trials)
        info = task_info(config.task)
        t = info.steps_per_update(config.method.online)
        update = costs.update_seconds(costs.cost(config.method, model, batch), self.rates, t, members)
        steps = config.schedule.steps
        evals, probes = _counts(config, steps, start)
        eval_s = 0.0
        if evals:
            chars = getattr(config.task, "valid_chars", None) or DEFAULT_VALID_CHARS
            streams = getattr(config.task, "valid_batch", batch)
            forward = costs.cost(EXACT, model, streams)
            # A forward pass: a third of BPTT's FLOPs and about half its kernels.
            forward = forward._replace(flops_per_step=forward.flops_per_step // 3,
                                       ops_per_step=forward.ops_per_step // 2)
            eval_s = chars / streams * costs.step_seconds(forward, self.rates, members)
        exact = info.steps_per_update(False)
        probe_s = costs.update_seconds(costs.cost(EXACT, model, batch), self.rates, exact, members)
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
