"""`run`: a sweep spec through Ray Tune, one Tune trial per pack, tracked in MLflow.

Order matters for errors: the spec is validated before anything starts (SpecError), the tracking
store is asked which trials finished before Ray starts (TrackingError), and the cluster is reached
before the parent run is touched (ClusterError), so each of these is one line and leaves nothing
half-done behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator, Optional, TextIO

from snapsweep import settings
from snapsweep.sweep import interrupt, work
from snapsweep.sweep.resources import TrialResources, trial_env


@dataclass
class SweepResult:
    name: str
    experiment: str
    tracking_uri: str
    storage: str  # the sweep's directory: <root>/<name>
    parent_run_id: Optional[str]
    trials: int
    finished_before: int  # trials already FINISHED when the run started (skipped)
    ran: int  # trials trained by this call
    packs_run: int
    resumed: dict = field(default_factory=dict)  # pack id -> step it resumed from
    failed: dict = field(default_factory=dict)  # pack id -> first line of its error
    skipped: dict = field(default_factory=dict)  # pack id -> why (another driver holds its lease)
    diverged: int = 0  # members that ran and diverged
    stale: int = 0  # member runs found RUNNING with no live driver (continued by this call)
    parent_status: Optional[str] = None  # how the parent run ended; None: left to another driver
    report_dir: Optional[str] = None
    report_markdown: str = ""
    notes: list = field(default_factory=list)  # warnings shown before the run
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Every pack ran to its end and the parent run did not end FAILED (diverged members are
        results, not failures): the exit status of `snapsweep run` says what the parent run says."""
        return not self.failed and self.parent_status != "FAILED"


def run(
    spec_path_or_spec,
    *,
    address: Optional[str] = None,
    tracking_uri: Optional[str] = None,
    storage: Optional[str] = None,
    progress: bool = True,
    out: TextIO = sys.stdout,
    wait_for_tracking: float = 0.0,
) -> SweepResult:
    """Run every trial of the spec that has not finished; returns what happened.

    `address`: a Ray cluster (host:port, ray://..., auto); None takes RAY_ADDRESS, else starts Ray locally.
    `tracking_uri`: MLflow; None takes the spec's, else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db
    in the working directory. `storage`: checkpoints and Tune results; None takes the spec's, else
    SNAPSWEEP_STORAGE, else ./snapsweep-runs (snapsweep.settings). `wait_for_tracking`: seconds to
    wait for an http tracking server that does not answer at the start (a countdown line every
    5 s); 0 fails at once with one line.
    """
    from snapsweep import spec as spec_mod

    started = time.monotonic()

    def say(line: str) -> None:
        if progress:
            out.write(line + "\n")
            out.flush()

    sweep, spec_path = work.load_spec(spec_path_or_spec, check_data=True)
    paths = work.sweep_paths(sweep, storage)  # every setting checked before anything is created
    address = settings.ray_address(address)
    tracker = _tracker(work.tracking_uri_of(sweep, tracking_uri), wait_for_tracking, out)
    if address is not None:
        from snapsweep.sweep.cluster import check_reachable

        check_reachable(address)  # a wrong address fails now, even when nothing is left to run

    def ride(attempt):
        # The server answered once: from here on its going away is an outage, ridden out like the
        # trials ride theirs (tracking.outage_wait_s), with the countdown line. Every call retried is
        # a search or a find-or-create, so a request whose answer was lost is safe to send again.
        return _wait_for(attempt, sweep.tracking.outage_wait_s, out, outage=lambda err: not tracker.reachable())

    workload = work.build(sweep, paths, ride(lambda: work.finished_ids(tracker, sweep)), spec_path=spec_path)
    say(f"sweep {sweep.name}: {workload.plan_line()}")
    stale = ride(lambda: _stale_runs(tracker, workload))
    if stale:
        say(f"{stale} run{'s' if stale != 1 else ''} left RUNNING by a driver that is gone (stale); "
            "continuing them")

    result = SweepResult(
        name=sweep.name, experiment=workload.experiment, tracking_uri=tracker.uri, storage=paths.sweep_dir,
        parent_run_id=None, trials=len(workload.trials), finished_before=workload.finished_count or 0,
        ran=workload.to_run(), packs_run=len(workload.packs), resumed=dict(workload.resume_steps), stale=stale,
    )
    spec_hash = spec_mod.spec_hash(sweep)
    if workload.packs:
        from snapsweep.sweep import cluster as cluster_mod

        resources = TrialResources.from_spec(sweep.resources)
        env = trial_env(resources, compile_cache=compile_cache_dir(paths.root))
        held = [t.id for p in workload.packs for t in p.trials]
        # Ctrl-C / SIGTERM: the held runs are marked KILLED and Interrupted raised (then Ray shuts
        # down); no report is built over the last good one. Inside connect: ray.init installs a
        # SIGTERM handler of its own, which ours must replace.
        with cluster_mod.connect(address, env_vars=env) as cluster, \
                interrupt.interruptible(lambda: interrupt.mark_killed(
                    tracker, workload.experiment, sweep.name, held, result.parent_run_id)):
            result.notes = cluster_mod.check_fit(cluster, resources, paths.root)
            if cluster.nodes > 1 and tracker.uri.startswith("sqlite:"):
                result.notes.append(
                    f"warning: tracking store {tracker.uri} is a local file but the cluster has "
                    f"{cluster.nodes} nodes; pass --tracking-uri of an MLflow server every node reaches")
            for note in result.notes:
                warnings.warn(note, stacklevel=2)
                say(note)
            say(f"{cluster.describe()}; each pack gets {resources.label()}")
            result.parent_run_id = ride(lambda: _parent_run(tracker, workload, spec_hash))
            _tune(workload, tracker, result, resources, env, spec_hash, say if progress else None, out)
    else:
        result.parent_run_id = ride(lambda: tracker.find_sweep_run(workload.experiment, sweep.name))
        if result.parent_run_id is None:  # an empty grid is refused by the spec; this is belt and braces
            result.parent_run_id = ride(lambda: _parent_run(tracker, workload, spec_hash))

    if workload.packs:
        # The packs waited for an absent server before they ended; the sweep's end does the same.
        ride(tracker.check_reachable)
    if not result.skipped:  # else the driver that holds those packs writes the report and ends the parent
        _report(tracker, workload, result, say)
    finished_now = ride(lambda: work.finished_ids(tracker, sweep)) & {t.id for t in workload.trials}
    complete = len(finished_now) == len(workload.trials)
    if result.parent_run_id is not None and not result.skipped:
        status = "FINISHED" if complete and not result.failed else "FAILED"

        def end_parent() -> None:
            # With nothing run, the parent is ended again only when it says otherwise (a sweep whose
            # diverged members an older version counted as failures).
            if workload.packs or tracker.run(result.parent_run_id).status != status:
                tracker.finish(result.parent_run_id, status,
                               {"trials": len(workload.trials), "finished": len(finished_now),
                                "failed_packs": len(result.failed)})

        ride(end_parent)
        result.parent_status = status
    result.wall_s = time.monotonic() - started
    say(_closing(result, len(finished_now), tracker.uri))
    return result


# While waiting for the tracking server at the start: a countdown line this often.
COUNTDOWN_EVERY_S = 5.0


def _tracker(uri: Optional[str], wait_s: float, out: TextIO):
    """The Tracker of `uri`; an http server that does not answer is waited for up to `wait_s`
    seconds, with a countdown line, before its one-line TrackingError is raised."""
    from snapsweep.track import Tracker

    return _wait_for(lambda: Tracker(uri), wait_s, out)


def _wait_for(attempt, wait_s: float, out: TextIO, outage=None):
    """`attempt()`, again every few seconds while it raises a TrackingError that `outage(err)` says
    is the server not answering (by default: not an HTTP refusal), for up to `wait_s` seconds (a
    countdown line each time); then its error. Any other TrackingError is raised at once."""
    from snapsweep.errors import TrackingError

    outage = outage or (lambda err: "answered HTTP" not in err.message)
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        try:
            return attempt()
        except TrackingError as err:
            left = deadline - time.monotonic()
            if left <= 0 or not outage(err):  # refused for a reason waiting will not change
                raise
            out.write(f"{err.message}; waiting for it, {left:.0f} s left\n")
            out.flush()
            time.sleep(min(COUNTDOWN_EVERY_S, left))


def _stale_runs(tracker, workload: work.Workload) -> int:
    """Member runs of the packs to run that are RUNNING with no live lease (sweep/statuses.py):
    their driver is gone. Counted and said; the packs' trials continue them (Tracker.member_run)."""
    from snapsweep.sweep.statuses import stale_trials

    todo = {t.id: p.id for p in workload.packs for t in p.trials}
    if not todo:
        return 0
    runs = {r.trial_id: r for r in tracker.member_runs(workload.experiment, workload.name) if r.trial_id in todo}
    return len(stale_trials(workload.paths, runs, todo))


def compile_cache_dir(root: str) -> Optional[str]:
    """<storage root>/.jax-cache on a filesystem path (shared by every sweep there); none for
    object stores, which JAX's cache cannot use directly."""
    from snapsweep.sweep.storage import is_uri, join

    return None if is_uri(root) else join(root, ".jax-cache")


def _parent_run(tracker, workload: work.Workload, spec_hash: str) -> str:
    from snapsweep import spec as spec_mod

    tags = {"snapsweep.spec_path": os.path.abspath(workload.spec_path)} if workload.spec_path else {}
    return tracker.sweep_run(workload.experiment, workload.name, spec_hash, spec_mod.resolved_yaml(workload.spec),
                             tags)


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """Tune's own tables and banners off for the length of fit(); our callback prints progress.

    RAY_AIR_NEW_OUTPUT=0 selects the reporter that honours verbose=0 (the new one prints its
    configuration box regardless). It is read by fit() in this process, so it is restored after.
    """
    saved = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = saved


def _tune(workload: work.Workload, tracker, result: SweepResult, resources: TrialResources, env: dict,
          spec_hash: str, say, out: TextIO) -> None:
    from ray import tune

    from snapsweep.sweep.lease import new_owner
    from snapsweep.sweep.trainable import SweepJob, tune_trainable

    sweep = workload.spec
    job = SweepJob(
        sweep=sweep.name, experiment=workload.experiment, spec_hash=spec_hash, tracking_uri=tracker.connect_uri,
        parent_run_id=result.parent_run_id, paths=workload.paths, keep_checkpoints=sweep.storage.keep_checkpoints,
        env=env, packs={p.id: p for p in workload.packs}, owner=new_owner(), devices=sweep.resources.devices,
        tracking_wait_s=sweep.tracking.outage_wait_s,
    )
    callbacks = []
    if say is not None:
        from snapsweep.sweep.progress import Heartbeat, ProgressPrinter

        labels = {p.id: work.pack_label(p) for p in workload.packs}
        heartbeat = Heartbeat({p.id: p.config.schedule.steps for p in workload.packs}, workload.resume_steps)
        callbacks.append(ProgressPrinter(out, labels, heartbeat))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    trainable = tune.with_resources(tune.with_parameters(tune_trainable, job=job), resources.tune_request())
    tuner = tune.Tuner(
        trainable,
        param_space={"pack": tune.grid_search([p.id for p in workload.packs])},
        tune_config=tune.TuneConfig(
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=f"tune-{stamp}",
            storage_path=workload.paths.sweep_dir,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=sweep.storage.keep_checkpoints),
            failure_config=tune.FailureConfig(max_failures=sweep.retries.max_failures),
            verbose=0,
            callbacks=callbacks,
        ),
    )
    with _quiet_tune():
        grid = tuner.fit()
    for outcome in grid:
        # A trial that failed before it started has no config; its directory is pack-<id>.
        pack_id = (outcome.config or {}).get("pack") or os.path.basename(outcome.path or "?").removeprefix("pack-")
        if outcome.error is not None:
            text = str(outcome.error).strip().splitlines()
            result.failed[pack_id] = _error_line(text)
        else:
            result.diverged += int((outcome.metrics or {}).get("diverged_members") or 0)
            if (outcome.metrics or {}).get("held"):  # trained by another driver right now
                result.skipped[pack_id] = outcome.metrics["skipped"]


def _trial_name(trial) -> str:
    return f"pack-{trial.config['pack']}"


def _error_line(lines: list) -> str:
    # Ray wraps the trial's exception; its last non-empty line is the one that says what happened.
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return "unknown error"


def _report(tracker, workload: work.Workload, result: SweepResult, say) -> None:
    from snapsweep.errors import SnapsweepError
    from snapsweep.sweep.reporting import build_and_publish

    try:
        built, where, _ = build_and_publish(tracker, workload, result.parent_run_id)
    except SnapsweepError as err:
        say(f"report: not built ({err.one_line()})")
        return
    result.report_dir = where
    result.report_markdown = built.markdown
    say("")
    say(built.markdown.rstrip())
    say("")


def _closing(result: SweepResult, finished: int, uri: str) -> str:
    lines = []
    lines.extend(f"pack {pack}: {why}" for pack, why in sorted(result.skipped.items()))
    if result.failed:
        lines.append(f"{len(result.failed)} pack(s) failed; re-run the same command to resume them:")
        lines.extend(f"  pack {pack}: {error}" for pack, error in sorted(result.failed.items()))
    lines.append(f"{finished}/{result.trials} trials finished ({result.ran} run now"
                 f"{f', {result.diverged} diverged' if result.diverged else ''}) in {result.wall_s:.1f}s")
    if result.report_dir:
        lines.append(f"report: {result.report_dir}")
    if uri.startswith("sqlite:"):
        lines.append(f"runs: mlflow ui --backend-store-uri {uri}")
    else:
        lines.append(f"runs: {uri}")
    return "\n".join(lines)
