"""What a sweep still has to do: its trials, which of them finished, and the packs to run.

Shared by `run` (which trains the packs), `plan` (which prices them) and `status`, so that all
three agree on what "finished" and "to run" mean.

Finished means an MLflow member run with the trial's id that reached its end: status FINISHED, or
FAILED because the member diverged (a result: training it again would diverge again), whatever
spec version produced it: trial ids hash the resolved settings only, so a spec that gained a seed finds the old
trials finished and packs only the new ones. A pack that was interrupted (it has a checkpoint in
the sweep's pack directory and an unfinished trial) is kept as it was, whatever the packing of the
remaining trials would now be, so that its checkpoint is used; the other remaining trials are
packed afresh.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from snapsweep import settings
from snapsweep.errors import SnapsweepError
from snapsweep.sweep.storage import SweepPaths, resolve_root, stored_packs


@dataclass(frozen=True)
class Workload:
    spec: object  # snapsweep.spec.SweepSpec
    spec_path: Optional[str]
    paths: SweepPaths
    trials: list  # every trial of the spec (snapsweep.spec.Trial)
    all_packs: list  # the packing of every trial, finished or not
    finished: Optional[set]  # trial ids; None when the tracking store could not be asked
    packs: list  # packs to run now
    resume_steps: dict = field(default_factory=dict)  # pack id -> step of its newest checkpoint

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def experiment(self) -> str:
        return self.spec.tracking.experiment or self.spec.name

    @property
    def finished_count(self) -> Optional[int]:
        if self.finished is None:
            return None
        ids = {t.id for t in self.trials}
        return len(ids & self.finished)

    def to_run(self) -> int:
        return sum(len(p.trials) for p in self.packs)

    def plan_line(self) -> str:
        """e.g. "12 trials in 3 packs, 4 finished, 8 to run in 2 packs (1 resumes from a checkpoint)"."""
        n, m = len(self.trials), len(self.all_packs)
        line = f"{n} trial{'s' if n != 1 else ''} in {m} pack{'s' if m != 1 else ''}, "
        if self.finished is None:
            line += "finished unknown (tracking store unreachable)"
        else:
            line += f"{self.finished_count} finished"
        todo, packs = self.to_run(), len(self.packs)
        line += f", {todo} to run"
        if todo:
            line += f" in {packs} pack{'s' if packs != 1 else ''}"
        if self.resume_steps:
            r = len(self.resume_steps)
            line += f" ({r} resume{'s' if r == 1 else ''} from a checkpoint)"
        return line


def load_spec(spec_or_path, *, check_data: bool = False):
    """(SweepSpec, path or None); a path that does not validate raises SpecError here.
    `check_data` (plan, run): also refuse training data that cannot be had here (spec/data.py)."""
    from snapsweep import spec as spec_mod

    if isinstance(spec_or_path, (str, os.PathLike)):
        return spec_mod.load(spec_or_path, check_data=check_data), os.fspath(spec_or_path)
    if check_data:
        spec_mod.check_data(spec_or_path)
    return spec_or_path, None


def tracking_uri_of(spec, tracking_uri: Optional[str]) -> Optional[str]:
    """The argument, else the spec's tracking.uri, else MLFLOW_TRACKING_URI; None is the embedded
    SQLite store (snapsweep.settings)."""
    return settings.tracking_uri(tracking_uri, spec.tracking.uri)


def build(spec, paths: SweepPaths, finished: Optional[set], *, spec_path: Optional[str] = None) -> Workload:
    from snapsweep import spec as spec_mod

    trials = spec_mod.expand(spec)
    limit = spec.packing.limit
    devices = spec.resources.devices
    all_packs = spec_mod.packs(trials, limit, devices)
    done = finished or set()
    by_id = {t.id: t for t in trials}

    # Interrupted packs first, the most advanced first, so that a trial in two stored packs (an
    # old packing and a newer one) resumes from the further one.
    stored = []
    for store, index in stored_packs(paths):
        ids = index.get("trial_ids") or []
        step = store.latest_step()
        if step is None or not ids or any(i not in by_id for i in ids) or all(i in done for i in ids):
            continue
        stored.append((step, index.get("pack_id"), ids))
    stored.sort(key=lambda item: (-item[0], item[1] or ""))

    taken: set = set()
    packs, resume_steps = [], {}
    for step, pack_id, ids in stored:
        if taken & set(ids):
            continue
        rebuilt = spec_mod.packs([by_id[i] for i in ids], len(ids))
        if len(rebuilt) != 1 or rebuilt[0].id != pack_id:
            continue  # not one pack of this spec any more (settings changed): start afresh
        packs.append(rebuilt[0])
        resume_steps[pack_id] = step
        taken.update(ids)
    rest = [t for t in trials if t.id not in done and t.id not in taken]
    packs.extend(spec_mod.packs(rest, limit, devices))
    return Workload(spec=spec, spec_path=spec_path, paths=paths, trials=trials, all_packs=all_packs,
                    finished=finished, packs=packs, resume_steps=resume_steps)


def finished_ids(tracker, spec) -> set:
    return tracker.finished_trial_ids(spec.tracking.experiment or spec.name, spec.name)


def open_tracker(spec, tracking_uri: Optional[str]):
    """(Tracker or None, why not) for plan and status, which work without a tracking store.

    An embedded SQLite store that does not exist yet is not created here (looking must not leave
    an mlflow.db behind): it holds no runs, which is (None, None).
    """
    from snapsweep.track import Tracker

    uri = tracking_uri_of(spec, tracking_uri)
    local = settings.DEFAULT_DB if uri is None else uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else None
    if local is not None and not os.path.exists(local):
        return None, None
    try:
        return Tracker(uri), None
    except SnapsweepError as err:
        return None, err.one_line()


def sweep_paths(spec, storage: Optional[str]) -> SweepPaths:
    return SweepPaths(resolve_root(storage, spec.storage.path), spec.name)


def pack_label(pack) -> str:
    """e.g. "gru-h32-d1-snap1-online x4": the settings the members share, and how many there are."""
    from snapsweep.spec.expand import shared_label

    return f"{shared_label(pack.trials[0].axes)} x{len(pack.trials)}"
