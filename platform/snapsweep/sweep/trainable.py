"""One pack, trained to the end of its schedule: the body of a Ray Tune trial.

`PackTraining.run` knows nothing of Tune: it gets a `report(metrics, checkpoint_dir)` callable and an
optional directory to restore from. `tune_trainable` is the thin adapter that passes
`ray.tune.report` and `ray.tune.get_checkpoint()`; tests call `PackTraining` directly to stop a pack
between checkpoints the way a killed process would. The loop itself is the pack driver
(`snapsweep.train.driver.drive`, the same one `snapsweep train` uses); `_TrialPorts` is its
adapter here: Tune checkpoints plus the sweep's pack store, MLflow runs through the Tracker.

Resume. Every `schedule.checkpoint_every` updates the pack state (parameters, optimizer state,
recurrent states and traces, data position, RNG keys, curriculum, member MLflow run ids in the meta)
is written once and published twice: to Tune, which restores it when it retries a failed trial
inside the same `Tuner`, and to the sweep's own pack directory, which a later `sweep.run` (a new
`Tuner`, new trial directories) finds by pack id. A trial starts from the newer of the two. The
member runs are reopened by trial id, and metric points at or before the last step MLflow already
holds are not sent again, so a resumed run has one history without repeated steps.

Tracking outages. A trial never calls MLflow for its runs directly: opening them, tags, metric
points and the end of each run (summary, artifacts, status) are appended to the pack's journal on
this machine's disk (`snapsweep.track.journal`, under `settings.spool_dir()`) and replayed in order
whenever the server answers (`snapsweep.track.replay`). Training goes on through an outage; the
operations MLflow has not taken travel inside every checkpoint, for a resume on another machine;
at its end the pack waits for the server (`tracking.outage_wait_s`) instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

from snapsweep.sweep.progress import LIVE_METRICS
from snapsweep.sweep.resources import CACHE_ENV
from snapsweep.sweep.storage import PackStore, SweepPaths, is_uri
from snapsweep.train.driver import CHECKPOINT_FILE

META_FILE = "meta.json"  # the checkpoint meta again, readable without loading the state

Report = Callable[[dict, Optional[str]], None]


@dataclass(frozen=True)
class SweepJob:
    """What every pack of one `sweep.run` shares; shipped to the trials once (tune.with_parameters)."""

    sweep: str
    experiment: str
    spec_hash: str
    tracking_uri: str = field(repr=False)  # Tracker.connect_uri: may hold a database password
    parent_run_id: str
    paths: SweepPaths
    keep_checkpoints: int
    env: Mapping[str, str] = field(default_factory=dict)
    packs: Mapping[str, object] = field(default_factory=dict)  # pack id -> snapsweep.spec Pack
    owner: str = ""  # the sweep.run call's lease owner id (sweep/lease.py); "" trains without a lease
    devices: int = 1  # local devices per trial: the pack's member axis is sharded over them
    tracking_wait_s: float = 1800.0  # how long a finished pack waits for an absent tracking server


def member_params(trial) -> dict:
    """MLflow parameters of a member run: every resolved setting, flattened by the tracker."""
    return {**trial.config.to_dict(), "seed": trial.member.seed, "lr": trial.member.lr}


def apply_env(env: Mapping[str, str]) -> None:
    """Set the trial's environment in this process, for a Ray session whose runtime_env did not
    (one the caller had started). The XLA memory settings are read when JAX's backend starts, at
    the first computation, so setting them here is in time; the cache settings are read when jax is
    imported, which unpickling the pack already did, so they also go to jax.config."""
    for name, value in env.items():
        os.environ.setdefault(name, value)
    if "jax" in sys.modules:
        import jax

        for name, option in CACHE_ENV.items():
            if name in env:
                value = env[name]
                jax.config.update(option, float(value) if option.endswith("_secs") else value)


def read_meta(checkpoint_dir: str) -> Optional[dict]:
    try:
        with open(os.path.join(checkpoint_dir, META_FILE), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


class PackTraining:
    def __init__(self, job: SweepJob, pack, *, tracker=None):
        self.job = job
        self.pack = pack
        self.store = PackStore(job.paths.pack_dir(pack.id), keep=job.keep_checkpoints)
        self._tracker = tracker

    # -- the pieces ----------------------------------------------------------------------------

    def tracker(self):
        if self._tracker is None:
            from snapsweep.track import Tracker

            # No reachability check: the pack trains through an outage, its tracking journaled.
            self._tracker = Tracker(self.job.tracking_uri, check=False)
        return self._tracker

    def _index(self) -> dict:
        return {
            "pack_id": self.pack.id,
            "sweep": self.job.sweep,
            "trial_ids": [t.id for t in self.pack.trials],
            "labels": [t.label for t in self.pack.trials],
            "steps": self.pack.config.schedule.steps,
        }

    def _restore_source(self, tune_dir: Optional[str], scratch: str) -> Optional[str]:
        """The directory of the newest good checkpoint: Tune's (a retry in this Tuner) or ours.

        Newest first, each file's size and checksum verified; a truncated or garbled one is passed
        over with one warning line naming it, for the next older one (the store keeps
        storage.keep_checkpoints), or none: the pack starts over. Its member runs skip the points
        they already hold either way, so a fallback repeats computation, never metric points."""
        from snapsweep.errors import CheckpointError
        from snapsweep.train.checkpoint import verify

        candidates = []
        if tune_dir is not None:
            meta = read_meta(tune_dir)
            if meta is not None and meta.get("pack_id") == self.pack.id and isinstance(meta.get("step"), int):
                candidates.append((meta["step"], 1, tune_dir))
        candidates.extend((step, 0, None) for step in self.store.steps())
        bad = None
        for step, _, chosen in sorted(candidates, reverse=True):
            if chosen is None:
                chosen = self.store.local_path(step) or self.store.fetch(step, os.path.join(scratch, f"restore-{step}"))
            try:
                verify(os.path.join(chosen, CHECKPOINT_FILE))
            except CheckpointError as err:
                bad = err
                _warn(f"pack {self.pack.id}: {err.message}: {err.where}; trying the previous checkpoint")
                continue
            if bad is not None:
                _warn(f"pack {self.pack.id}: continuing from the checkpoint at step {step} ({chosen})")
            return chosen
        if bad is not None:
            _warn(f"pack {self.pack.id}: no good checkpoint left; starting the pack over")
        return None

    # -- the loop ------------------------------------------------------------------------------

    def run(self, report: Report, restored: Optional[str] = None) -> list[dict]:
        """Train to the end (or continue), finish the member runs; returns trainer.summary() ([] for
        a pack skipped because another driver holds its lease or finished it)."""
        apply_env(self.job.env)
        lease = self._lease()
        if lease is not None:
            holder = lease.acquire()
            if holder is not None:
                return self._skip(report, f"skipped: trained by another {holder.describe(time.time())}", held=True)
        try:
            if lease is not None and self._all_finished():
                return self._skip(report, "skipped: finished by another driver", held=False)
            return self._train(report, restored)
        finally:
            if lease is not None:
                lease.release()

    def _lease(self):
        """This pack's lease for the job's owner; None without an owner or on an object store."""
        if not self.job.owner or is_uri(self.store.uri):
            return None
        from snapsweep.sweep.lease import PackLease

        return PackLease(self.store.uri, self.job.owner)

    def _all_finished(self) -> bool:
        # Another driver may have finished the pack between this driver's plan and the lease. With
        # the tracking server away, train: the journal's find-or-create keeps one run per trial.
        from snapsweep.errors import TrackingError

        try:
            finished = self.tracker().finished_trial_ids(self.job.experiment, self.job.sweep)
        except TrackingError:
            return False
        return all(t.id in finished for t in self.pack.trials)

    def _skip(self, report: Report, line: str, *, held: bool) -> list[dict]:
        """`held`: another driver is training the pack now (it will write the report), rather than
        having finished it already."""
        _warn(f"pack {self.pack.id}: {line}")
        report({"skipped": line, "held": held, "done_members": 0}, None)
        return []

    def _train(self, report: Report, restored: Optional[str]) -> list[dict]:
        from snapsweep.train import Trainer, drive

        pack = self.pack
        trainer = Trainer(pack.config, pack.members, devices=self.job.devices)
        scratch = tempfile.mkdtemp(prefix=f"snapsweep-{pack.id}-")
        try:
            ports = _TrialPorts(self, self.tracker(), report, restored, scratch)
            meta = {"pack_id": pack.id, "sweep": self.job.sweep, "trial_ids": [t.id for t in pack.trials],
                    "parent_run_id": self.job.parent_run_id}
            return drive(trainer, checkpoints=ports, metrics=ports, runs=ports, meta=meta)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _tags(self, trial) -> dict[str, str]:
        from snapsweep.track import tags as T

        return T.trial_tags(trial, self.job.spec_hash)


class _TrialPorts:
    """The pack driver's three ports in a Tune trial (train.driver): checkpoints go to Tune and to
    the pack store; metric points and run lifecycles go to the pack's tracking journal
    (track.journal, on this machine's disk), which a Replayer applies to MLflow in order whenever
    the server answers. Training never waits for MLflow; only the end of the pack does, for at most
    the spec's `tracking.outage_wait_s`, so that the runs end FINISHED instead of the pack failing."""

    def __init__(self, training: PackTraining, tracker, report: Report, restored: Optional[str], scratch: str):
        from snapsweep.report.plots import member_figure  # the run's learning curves, under plots/
        from snapsweep.track.journal import Journal
        from snapsweep.track.replay import Replayer

        self.training = training
        self.tracker = tracker
        self.report = report
        self.restored = restored  # Tune's checkpoint directory for a retried trial, else None
        self.scratch = scratch
        self.journal = Journal(journal_dir(training.job, training.pack.id))
        self.replayer = Replayer(tracker, self.journal, training.job.parent_run_id, plot=member_figure)
        self.metrics: Optional[_MemberMetrics] = None
        self._source: Optional[str] = None  # the checkpoint directory the pack continues from
        self._previous: Optional[str] = None  # the last checkpoint directory handed to Tune
        self._total = training.pack.config.schedule.steps
        self._said_outage = False

    def run_ids(self) -> Optional[list[str]]:
        """The member runs' ids, once every one is known (None while MLflow has not answered)."""
        ids = [self.replayer.run_id(t.id) for t in self.training.pack.trials]
        return ids if all(ids) else None

    def _pump(self, *, force: bool = False) -> None:
        pending = self.replayer.pump(force=force)
        if pending and not self._said_outage:
            _warn(f"pack {self.training.pack.id}: tracking server at {self.tracker.uri} unreachable; training on, "
                  f"{pending} tracking operations queued in {self.journal.directory}")
        self._said_outage = bool(pending)

    # -- CheckpointPort ------------------------------------------------------------------------

    def latest(self) -> Optional[str]:
        self._source = self.training._restore_source(self.restored, self.scratch)
        return os.path.join(self._source, CHECKPOINT_FILE) if self._source is not None else None

    def save(self, step: int, meta: dict, write_state) -> None:
        from snapsweep.track.journal import CHECKPOINT_FILE as JOURNAL_FILE

        directory = os.path.join(self.scratch, f"step-{step:09d}")
        os.makedirs(directory)
        run_ids = self.run_ids()
        if run_ids is not None and not meta.get("run_ids"):
            meta["run_ids"] = run_ids  # the runs were opened after the pack started, in an outage
        write_state(os.path.join(directory, CHECKPOINT_FILE))
        with open(os.path.join(directory, META_FILE), "w", encoding="utf-8") as handle:
            json.dump(meta, handle)
        # What MLflow has not taken yet travels with the checkpoint: a pack resumed on another
        # machine (whose spool does not have this journal) sends it from there.
        self.journal.export(os.path.join(directory, JOURNAL_FILE))
        self.training.store.commit(directory, step)
        self.report({"step": step, "steps": self._total, **self.metrics.live()}, directory)
        # Tune has copied it to its storage when report() returns.
        if self._previous is not None:
            shutil.rmtree(self._previous, ignore_errors=True)
        self._previous = directory

    # -- MetricsPort ---------------------------------------------------------------------------

    def emit(self, records: list) -> None:
        self.metrics(records)
        self._pump()

    def flush(self) -> None:
        # Points first, then the checkpoint: a crash in between repeats those steps on resume, and
        # the replayer skips the steps MLflow already holds. Through an outage they wait, journaled.
        self._pump()

    # -- RunPort -------------------------------------------------------------------------------

    def start(self, resumed: bool) -> Optional[list[str]]:
        from snapsweep.track import flatten
        from snapsweep.track import tags as T
        from snapsweep.track.journal import CHECKPOINT_FILE as JOURNAL_FILE
        from snapsweep.track.journal import OPEN, TAGS

        training = self.training
        if self._source is not None:
            self.journal.absorb(os.path.join(self._source, JOURNAL_FILE))
        # Opening is find-or-create by trial id: on resume it finds the runs the checkpoint names
        # (and reopens one a crash left FAILED), so the runs continue.
        ops = [{"op": OPEN, "trial": t.id, "params": flatten(member_params(t)), "tags": training._tags(t)}
               for t in training.pack.trials]
        # Where the pack trains now (a resumed pack may land on another node): the cluster test
        # checks from it that trials spread over the workers.
        node = _node_id()
        if node:
            ops.extend({"op": TAGS, "trial": t.id, "tags": {T.NODE: node}} for t in training.pack.trials)
        self.journal.append(ops)
        self._pump(force=True)
        run_ids = self.run_ids()
        training.store.write_index({**training._index(), **({"run_ids": run_ids} if run_ids else {})})
        self.metrics = _MemberMetrics(self.journal, [t.id for t in training.pack.trials])
        return run_ids

    def running(self, step: int) -> None:
        pass  # Tune's progress comes from the checkpoint reports

    def finish(self, step: int, summary: list[dict], write_member) -> None:
        """Close every member run: FINISHED, or FAILED for a diverged member (its step in the
        summary), with the member's final state (loadable by a one-member Trainer) as an artifact;
        wait for the tracking server if it is away; then the pack's last report to Tune."""
        from snapsweep.errors import TrackingError
        from snapsweep.track.journal import FINISH

        ops = []
        for i, (trial, row) in enumerate(zip(self.training.pack.trials, summary)):
            path = os.path.join(self.scratch, "final", str(i), CHECKPOINT_FILE)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_member(i, path, {"trial_id": trial.id, "run_id": self.replayer.run_id(trial.id)})
            diverged = row["status"] == "diverged"
            final = {key: _plain(value) for key, value in row.items() if key != "member"}
            final["step"] = row["diverged_at_step"] if diverged and row.get("diverged_at_step") is not None else row["steps"]
            final["diverged"] = diverged
            ops.append({"op": FINISH, "trial": trial.id, "status": "FAILED" if diverged else "FINISHED",
                        "summary": final, "artifacts": {"final_state": self.journal.stash(path)}, "plot": True})
        self.journal.append(ops)
        wait_s = self.training.job.tracking_wait_s

        def waiting(line: str) -> None:
            _warn(f"pack {self.training.pack.id}: {line}")
            # Also to the driver, whose progress printer shows `tracking` (trial output stays in its log).
            self.report({"step": step, "steps": self._total, "tracking": line, **self.metrics.live()}, None)

        if not self.replayer.drain(wait_s, waiting):
            raise TrackingError(
                f"pack {self.training.pack.id} finished training but the tracking server at {self.tracker.uri} "
                f"did not answer for {wait_s:.0f} s; {self.replayer.pending()} operations wait in "
                f"{self.journal.directory}",
                where="tracking",
                fix="start the server and re-run: the pack continues from its last checkpoint and sends them "
                    "(on this machine), or raise tracking.outage_wait_s",
            )
        self.journal.remove()
        done = {"step": step, "steps": self._total, "done_members": len(summary),
                "diverged_members": sum(row["status"] == "diverged" for row in summary), **self.metrics.live()}
        self.report(done, None)

    def fail(self, error: BaseException) -> None:
        # The runs stay RUNNING and what MLflow has not taken stays in the journal: Tune's retry,
        # or a later `sweep.run`, resumes from the last checkpoint into the same runs.
        pass


def journal_dir(job: SweepJob, pack_id: str) -> str:
    """This machine's journal directory of one pack of one sweep run (parent run id: unique per
    tracking store, so two sweeps, or two stores, never share a journal)."""
    from snapsweep import settings

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in job.parent_run_id)
    return os.path.join(settings.spool_dir(), safe, pack_id)


def _plain(value):
    """A summary value as JSON keeps it exactly: numpy/jax scalars become Python numbers."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)


class _MemberMetrics:
    """The trainer's on_metrics callback: one journal operation per member per report (numbers as
    metric points; text values, e.g. a status, as `snapsweep.last.*` tags when they change), plus
    the newest live metrics for the progress line."""

    def __init__(self, journal, trial_ids: Sequence[str]):
        self._journal = journal
        self._trials = list(trial_ids)
        self._text: dict[tuple[int, str], str] = {}
        self._latest: dict[str, dict[int, float]] = {}

    def __call__(self, records: list) -> None:
        from snapsweep.track import tags as T
        from snapsweep.track.journal import METRICS, TAGS
        from snapsweep.track.members import split

        by_member, text = split(records, len(self._trials), self._text)
        now = int(time.time() * 1000)
        ops = []
        for member, points in sorted(by_member.items()):
            if not points:
                continue
            for key, value, _ in points:
                if key in LIVE_METRICS and math.isfinite(value):
                    self._latest.setdefault(key, {})[member] = value
            ops.append({"op": METRICS, "trial": self._trials[member],
                        "points": [[key, value, step, now] for key, value, step in points]})
        for member, values in sorted(text.items()):
            ops.append({"op": TAGS, "trial": self._trials[member], "tags": values})
            for tag, value in values.items():
                self._text[(member, tag[len(T.LAST_PREFIX):])] = value  # queued is as good as sent: replayed
        self._journal.append(ops)

    def live(self) -> dict:
        out = {}
        for key, values in self._latest.items():
            if values:
                out[f"{key}_min"] = min(values.values())
                out[f"{key}_max"] = max(values.values())
        return out


def tune_trainable(config: dict, job: SweepJob) -> None:
    """The Ray Tune function trainable: one pack per trial, `config["pack"]` names it."""
    from ray import tune

    apply_env(job.env)

    def report(metrics: dict, checkpoint_dir: Optional[str]) -> None:
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)

    training = PackTraining(job, job.packs[config["pack"]])
    checkpoint = tune.get_checkpoint()
    with checkpoint.as_directory() if checkpoint is not None else contextlib.nullcontext(None) as restored:
        training.run(report, restored)


def _node_id() -> str:
    """The Ray node this trial runs on, "" outside Ray."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:  # an older or partial Ray: the tag is informational only
        return ""
