"""`Tracker`: the one place that talks to MLflow.

Run hierarchy: one parent run per sweep, keyed on the sweep name (a spec with added seeds keeps its
parent; the latest spec hash is a tag), one child run per trial member, keyed on the trial id (a
retried or resumed trial continues its run instead of opening a second one). Runs are found again by
tags through `search_runs`, so nothing here depends on process-local state surviving a restart.

Metrics go through the outage buffer (`track.buffer`) in `log_batch` calls of at most 1000 points:
Ray's MLflowLoggerCallback makes one HTTP call per metric key per report, which a pack of a dozen
members logging every few steps turns into thousands of requests. A sweep's trials do not call
these methods during training: they journal every operation (`track.journal`) and a
`track.replay.Replayer` calls them when the server answers.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Optional, Sequence

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from snapsweep.errors import TrackingError
from snapsweep.track import connection
from snapsweep.track import tags as T
from snapsweep.track.buffer import MetricBuffer, Point, Unreachable
from snapsweep.track.params import flatten, spec_params
from snapsweep.track.provenance import provenance as provenance_of
from snapsweep.track.provenance import standard_tags
from snapsweep.track.records import RunRecord

log = logging.getLogger(__name__)

STATUSES = ("FINISHED", "FAILED", "KILLED")
# Runs in these states are reopened (set RUNNING) when their trial starts again.
REOPEN = ("FAILED", "KILLED", "SCHEDULED")
# MLflow error codes that mean "this request is wrong", not "the server is away": retrying the
# same request cannot succeed, so such metric batches are dropped and reported, not buffered.
PERMANENT_ERRORS = frozenset(
    {
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "INVALID_STATE",
        "BAD_REQUEST",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "NOT_FOUND",
        "ENDPOINT_NOT_FOUND",
    }
)
MAX_METRICS_PER_BATCH = 1000
MAX_TAGS_PARAMS_PER_BATCH = 100
PAGE = 1000

Record = tuple[str, float, int]  # (key, value, step)
# Draws a figure of a run into a directory from what the tracker holds (e.g. report.member_figure);
# returns the file, or None when there is nothing to draw.
Plotter = Callable[["Tracker", str, str], Optional[Path]]


class Tracker:
    """A thin adapter over one MLflow tracking store (a server URI or the embedded SQLite file).

    `buffer_path`: JSONL file (put it next to the trial checkpoint) that keeps metric points through
    a tracking-server outage, even across a crash; `buffer_limit` bounds the points held in memory.
    """

    def __init__(
        self,
        uri: Optional[str] = None,
        *,
        workdir: Optional[str | os.PathLike] = None,
        buffer_path: Optional[str | os.PathLike] = None,
        buffer_limit: int = 100_000,
        retry_interval_s: float = 10.0,
        check_timeout_s: float = 5.0,
        check: bool = True,
    ):
        """`check`: fail now (one line) when an http server does not answer; a trial passes False,
        since it trains through an outage (`track.journal`)."""
        self.target = connection.resolve(uri, workdir)
        if self.target.is_http:
            connection.configure_http()
            connection.use_credentials(self.target.credentials)
            if check:
                connection.check_reachable(self.target.uri, check_timeout_s, self.target.credentials)
        try:
            # A database store connects here (and needs its driver): its errors come as one line.
            self._client = MlflowClient(tracking_uri=self.target.store_uri, registry_uri=self.target.store_uri)
        except Exception as err:  # noqa: BLE001 - a missing driver, SQLAlchemy's errors: one line each
            raise TrackingError(f"cannot open the tracking store {self.uri}: {self.scrub(_first_line(err))}",
                                where="tracking",
                                fix="install the database driver (e.g. psycopg2-binary for postgresql://), start "
                                    "the database, or correct the tracking URI") from None
        self._buffer = MetricBuffer(
            limit=buffer_limit,
            spill_path=buffer_path,
            batch_size=MAX_METRICS_PER_BATCH,
            retry_interval_s=retry_interval_s,
        )
        self._experiments: dict[str, str] = {}
        self._provenance: Optional[dict[str, str]] = None

    @property
    def uri(self) -> str:
        """The store's URI as it may be printed and logged: never a password."""
        return self.target.uri

    @property
    def connect_uri(self) -> str:
        """What another process passes to `Tracker` to reach the same store (a database password
        included, http credentials not: those travel in MLflow's environment variables)."""
        return self.target.store_uri

    def check_reachable(self, timeout_s: float = 2.0) -> None:
        """One short health request (http): TrackingError, one line, when the server does not
        answer; a database or file store is not checked."""
        if self.target.is_http:
            connection.check_reachable(self.target.uri, timeout_s, self.target.credentials)

    def reachable(self, timeout_s: float = 2.0) -> bool:
        try:
            self.check_reachable(timeout_s)
        except TrackingError:
            return False
        return True

    # -- experiments and the run hierarchy ---------------------------------------------------------

    def experiment_id(self, name: str, *, create: bool = True) -> Optional[str]:
        if name in self._experiments:
            return self._experiments[name]
        with self._calls(f"looking up experiment {name!r}"):
            exp = self._client.get_experiment_by_name(name)
            if exp is None and create:
                try:
                    self._client.create_experiment(name, artifact_location=self._artifact_location(name),
                                                   tags={T.EXPERIMENT_KIND: T.MODEL_TRAINING})
                except MlflowException as err:
                    if err.error_code != "RESOURCE_ALREADY_EXISTS":  # another process won the race
                        raise
                exp = self._client.get_experiment_by_name(name)
            if exp is not None and create and T.EXPERIMENT_KIND not in exp.tags and exp.lifecycle_stage != "deleted":
                # Made by someone else (`mlflow experiments create`): still open it as model training.
                self._client.set_experiment_tag(exp.experiment_id, T.EXPERIMENT_KIND, T.MODEL_TRAINING)
        if exp is None:
            return None
        if exp.lifecycle_stage == "deleted":
            raise TrackingError(
                f"experiment {name!r} is deleted",
                where="tracking",
                fix=f"restore it (`mlflow experiments restore --experiment-id {exp.experiment_id}`) "
                "or choose another experiment name",
            )
        self._experiments[name] = exp.experiment_id
        return exp.experiment_id

    def _artifact_location(self, experiment: str) -> Optional[str]:
        if self.target.artifact_root is None:
            return None
        # Experiment names may hold characters that are awkward in paths; the id is not known yet.
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
        return str(Path(self.target.artifact_root) / safe)

    def sweep_run(
        self,
        experiment: str,
        sweep_name: str,
        spec_hash: str,
        resolved_yaml: str,
        tags: Optional[Mapping[str, str]] = None,
        params: Optional[Mapping[str, object]] = None,
    ) -> str:
        """The parent run of `sweep_name`, created on first call and found again by tags after.

        `params`: the sweep's axes (`track.params.sweep_params`); None derives them from
        `resolved_yaml`. MLflow parameters cannot change, so a grown grid (a seed added) keeps the
        first version's and records the latest in `spec.yaml`; new axes are added."""
        exp_id = self.experiment_id(experiment)
        source = (tags or {}).get("snapsweep.spec_path") or f"snapsweep sweep {sweep_name}"
        all_tags = {**standard_tags(provenance_of(device=False), source), **(tags or {}),
                    T.KIND: T.KIND_SWEEP, T.SWEEP: sweep_name, T.SPEC_HASH: spec_hash}
        flat = flatten(params) if params is not None else (spec_params(resolved_yaml) or {})
        found = self._find_sweep(exp_id, sweep_name)
        with self._calls(f"opening the parent run of sweep {sweep_name!r}"):
            created = None
            if found is None:
                created = self._client.create_run(exp_id, tags=_strings(all_tags), run_name=sweep_name).info.run_id
                found = self._settle_parent(exp_id, sweep_name, created)
            if found is None:
                run_id = created
                self._log_params(run_id, flat)
            else:
                run_id = found.info.run_id
                self.set_tags(run_id, all_tags)
                self._log_params(run_id, {k: v for k, v in flat.items() if k not in found.data.params})
                if found.info.status != "RUNNING":
                    self._client.update_run(run_id, status="RUNNING")
        with tempfile.TemporaryDirectory() as tmp:
            # spec.yaml is the latest; specs/<hash>.yaml keeps every version the sweep has run.
            latest = Path(tmp, "spec.yaml")
            latest.write_text(resolved_yaml, encoding="utf-8")
            versioned = Path(tmp, "specs", f"{spec_hash}.yaml")
            versioned.parent.mkdir()
            versioned.write_text(resolved_yaml, encoding="utf-8")
            self.log_artifact(run_id, latest)
            self.log_artifact(run_id, versioned.parent, "specs")
        return run_id

    def _settle_parent(self, exp_id: str, sweep_name: str, created: str):
        """After creating a parent run: two drivers started at the same moment may both have found
        none and created one each. Every driver keeps the oldest (`_find_sweep`'s order), and one
        whose own is not that deletes it -> the other driver's run, or None when ours is kept."""
        oldest = self._find_sweep(exp_id, sweep_name)
        if oldest is None or oldest.info.run_id == created:
            return None
        self._client.delete_run(created)
        return oldest

    def find_sweep_run(self, experiment: str, sweep_name: str) -> Optional[str]:
        exp_id = self.experiment_id(experiment, create=False)
        if exp_id is None:
            return None
        found = self._find_sweep(exp_id, sweep_name)
        return None if found is None else found.info.run_id

    def _find_sweep(self, exp_id: str, sweep_name: str):
        runs = self._search([exp_id], f"{_eq(T.KIND, T.KIND_SWEEP)} and {_eq(T.SWEEP, sweep_name)}")
        # The oldest, ties broken by run id: every driver picks the same one (see _settle_parent).
        return min(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)) if runs else None

    def member_run(
        self,
        parent_id: str,
        trial_id: str,
        params: Mapping[str, object],
        tags: Optional[Mapping[str, str]] = None,
        *,
        provenance_tags: Optional[Mapping[str, str]] = None,
    ) -> str:
        """The child run of one trial member: created once, then found by its trial id.

        `params` may be nested (flattened to dotted keys). `provenance_tags` default to
        `track.provenance()` of this process (which imports jax); pass `{}` to skip them.
        """
        with self._calls(f"opening the run of trial {trial_id}"):
            parent = self._client.get_run(parent_id)
        exp_id = parent.info.experiment_id
        flat = flatten(params)
        found = self._find_members(exp_id, parent_id, trial_id)
        with self._calls(f"opening the run of trial {trial_id}"):
            if found:
                run = found[0]
                run_id = run.info.run_id
                if run.info.status in REOPEN:
                    self._client.update_run(run_id, status="RUNNING")
                # A crash between creating the run and logging its params leaves some missing.
                missing = {k: v for k, v in flat.items() if k not in run.data.params}
                self._log_params(run_id, missing)
                return run_id
            if provenance_tags is None:
                provenance_tags = self._own_provenance()
            source = parent.data.tags.get(T.SOURCE_NAME) or "snapsweep"
            all_tags = {
                **standard_tags(provenance_tags, source),
                **provenance_tags,
                **(tags or {}),
                T.TRIAL_ID: trial_id,
                T.PARENT: parent_id,
                T.KIND: T.KIND_MEMBER,
                T.SWEEP: parent.data.tags.get(T.SWEEP, ""),
            }
            run_name = all_tags.pop(T.RUN_NAME, None) or trial_id[:12]
            run_id = self._client.create_run(exp_id, tags=_strings(all_tags), run_name=run_name).info.run_id
            self._log_params(run_id, flat)
        return run_id

    def find_member(self, parent_id: str, trial_id: str) -> Optional[str]:
        """The run id of a trial's member run under `parent_id`, or None when there is none yet."""
        with self._calls(f"reading the parent run {parent_id}"):
            exp_id = self._client.get_run(parent_id).info.experiment_id
        found = self._find_members(exp_id, parent_id, trial_id)
        return found[0].info.run_id if found else None

    def _find_members(self, exp_id: str, parent_id: str, trial_id: str) -> list:
        return self._search([exp_id], f"{_eq(T.PARENT, parent_id)} and {_eq(T.TRIAL_ID, trial_id)}", oldest_first=True)

    def _own_provenance(self) -> dict[str, str]:
        if self._provenance is None:
            self._provenance = provenance_of()
        return self._provenance

    # -- metrics -----------------------------------------------------------------------------------

    def log_metrics(self, run_id: str, records: Iterable[Record]) -> int:
        """Queue `(key, value, step)` records and send what is queued; returns points still pending.

        Never raises for an outage (the points wait in the buffer); raises TrackingError when the
        server rejects a batch (unknown run, invalid value).
        """
        return self.log_metrics_by_run({run_id: records})

    def log_metrics_by_run(self, batches: Mapping[str, Iterable[Record]]) -> int:
        now = int(time.time() * 1000)
        for run_id, records in batches.items():
            self._buffer.add(Point(run_id, key, float(value), int(step), now) for key, value, step in records)
        return self.flush(force=False)

    def flush(self, *, force: bool = True) -> int:
        """Try to send every queued point now; returns how many are still pending."""
        try:
            return self._buffer.flush(self._send, force=force)
        except TrackingError:
            raise
        except Exception as err:  # noqa: BLE001 - wrapped into the project's one-line error
            raise TrackingError(f"the tracking server rejected metrics: {self.scrub(_first_line(err))}",
                                where="tracking") from err

    def pending(self) -> int:
        return self._buffer.pending()

    @property
    def dropped(self) -> int:
        """Points dropped because the in-memory buffer was full and no spill file was given."""
        return self._buffer.dropped

    def send_metrics(self, run_id: str, points: Sequence[Point]) -> None:
        """Log `points` now, in batches, bypassing the buffer (the journal's replayer has its own
        queue): raises `Unreachable` for an outage, TrackingError for points the server refuses."""
        for start in range(0, len(points), MAX_METRICS_PER_BATCH):
            self._send(run_id, points[start : start + MAX_METRICS_PER_BATCH])

    def _send(self, run_id: str, points: Sequence[Point]) -> None:
        metrics = [Metric(p.key, p.value, p.timestamp, p.step) for p in points]
        try:
            self._client.log_batch(run_id, metrics=metrics, synchronous=True)
        except MlflowException as err:
            if err.error_code in PERMANENT_ERRORS:
                raise TrackingError(
                    f"run {run_id} refused {len(points)} metric points: {self.scrub(_first_line(err))}",
                    where="tracking",
                ) from err
            raise Unreachable(self.scrub(_first_line(err))) from err
        except (OSError, ConnectionError) as err:
            raise Unreachable(self.scrub(str(err))) from err

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """`(step, value)` sorted by step; a step logged twice (a resumed trial replaying the steps
        after its last checkpoint) keeps the newest value."""
        with self._calls(f"reading metric {key!r} of run {run_id}"):
            history = self._client.get_metric_history(run_id, key)
        latest: dict[int, tuple[int, float]] = {}
        for m in history:
            if m.step not in latest or m.timestamp >= latest[m.step][0]:
                latest[m.step] = (m.timestamp, m.value)
        return [(step, latest[step][1]) for step in sorted(latest)]

    # -- tags, artifacts, the end of a run ---------------------------------------------------------

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        items = [RunTag(k, v) for k, v in _strings(tags).items()]
        with self._calls(f"tagging run {run_id}"):
            for i in range(0, len(items), MAX_TAGS_PARAMS_PER_BATCH):
                self._client.log_batch(run_id, tags=items[i : i + MAX_TAGS_PARAMS_PER_BATCH], synchronous=True)

    def _log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), MAX_TAGS_PARAMS_PER_BATCH):
            self._client.log_batch(run_id, params=items[i : i + MAX_TAGS_PARAMS_PER_BATCH], synchronous=True)

    def log_artifact(self, run_id: str, path: str | os.PathLike, artifact_path: Optional[str] = None) -> None:
        """Upload a file, or a directory's contents, under `artifact_path` of the run."""
        path = Path(path)
        if not path.exists():
            raise TrackingError(f"artifact {path} does not exist", where="tracking", fix="write the file before logging it")
        with self._calls(f"uploading {path.name} to run {run_id}"):
            if path.is_dir():
                self._client.log_artifacts(run_id, str(path), artifact_path)
            else:
                self._client.log_artifact(run_id, str(path), artifact_path)

    def download_artifact(self, run_id: str, artifact_path: str, directory: str | os.PathLike) -> Optional[str]:
        """Download `artifact_path` of the run into `directory` -> the local path; None when the run
        has no such artifact (an unknown run is a TrackingError)."""
        parent, _, name = artifact_path.rstrip("/").rpartition("/")
        with self._calls(f"listing the artifacts of run {run_id}"):
            listed = {a.path for a in self._client.list_artifacts(run_id, parent or None)}
        if artifact_path not in listed and name not in listed:
            return None
        with self._calls(f"downloading {artifact_path} of run {run_id}"):
            return self._client.download_artifacts(run_id, artifact_path, str(directory))

    def finish(
        self,
        run_id: str,
        status: str = "FINISHED",
        summary: Optional[Mapping[str, object]] = None,
        artifacts: Optional[Mapping[str, str | os.PathLike]] = None,
        *,
        plot: Optional[Plotter] = None,
    ) -> None:
        """End a run: send buffered points, record the summary, upload artifacts and a figure.

        `summary`: the run summary, one tag `snapsweep.final.<key>` per entry (a number exactly, as
        repr); a number whose key the run logs as a metric is also its history's last point, at
        step `summary["step"]`, when the history does not end on that value already, so the UI's
        charts and parallel coordinates show final values without extra one-point metrics.
        `artifacts`: artifact directory ->
        local file or directory ("" for the run's root). `plot`: draws a figure of the run after
        its points are sent (`snapsweep.report.member_figure`), uploaded under plots/.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        pending = self.flush(force=True)
        if pending:
            raise TrackingError(
                f"cannot finish run {run_id}: the tracking server at {self.uri} is unreachable "
                f"({pending} metric points kept)",
                where="tracking",
                fix="restart the tracking server; the trial resumes from its checkpoint and sends them",
            )
        if summary:
            self._log_summary(run_id, summary)
        for artifact_path, local in (artifacts or {}).items():
            self.log_artifact(run_id, local, artifact_path or None)
        if plot is not None:
            with tempfile.TemporaryDirectory() as tmp:
                figure = plot(self, run_id, tmp)
                if figure is not None:
                    self.log_artifact(run_id, figure, "plots")
        with self._calls(f"ending run {run_id}"):
            self._client.set_terminated(run_id, status)

    def _log_summary(self, run_id: str, summary: Mapping[str, object]) -> None:
        now = int(time.time() * 1000)
        step = summary.get("step", 0)
        step = int(step) if isinstance(step, numbers.Real) and math.isfinite(float(step)) else 0
        with self._calls(f"reading run {run_id}"):
            latest = dict(self._client.get_run(run_id).data.metrics)
        points, text = [], {}
        for key, value in summary.items():
            if value is None:
                continue
            number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            text[T.FINAL_PREFIX + key] = repr(float(value)) if number and not isinstance(value, numbers.Integral) else value
            if number and key in latest and latest[key] != float(value) and math.isfinite(float(value)):
                points.append(Metric(key, float(value), now, step))
        if points:
            with self._calls(f"logging the summary of run {run_id}"):
                self._client.log_batch(run_id, metrics=points, synchronous=True)
        if text:
            self.set_tags(run_id, text)

    # -- reading runs back -------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRecord:
        with self._calls(f"reading run {run_id}"):
            return _record(self._client.get_run(run_id))

    def member_runs(self, experiment: str, sweep_name: str) -> list[RunRecord]:
        """Every member run of the sweep (any status), oldest first."""
        exp_id = self.experiment_id(experiment, create=False)
        if exp_id is None:
            return []
        flt = f"{_eq(T.KIND, T.KIND_MEMBER)} and {_eq(T.SWEEP, sweep_name)}"
        return [_record(r) for r in self._search([exp_id], flt, oldest_first=True)]

    def finished_trial_ids(self, experiment: str, sweep_name: str) -> set[str]:
        """Trials that reached their end: a member run FINISHED, or FAILED because it diverged (a
        result, like a finished run: training it again would diverge again). `run` skips them."""
        exp_id = self.experiment_id(experiment, create=False)
        if exp_id is None:
            return set()
        members = f"{_eq(T.KIND, T.KIND_MEMBER)} and {_eq(T.SWEEP, sweep_name)}"
        # Two searches: MLflow's filter language has no OR.
        runs = self._search([exp_id], f"{members} and attributes.status = 'FINISHED'")
        runs += self._search([exp_id], f"{members} and attributes.status = 'FAILED' and "
                                       f"{_eq(T.FINAL_PREFIX + 'diverged', str(True))}")
        return {r.data.tags[T.TRIAL_ID] for r in runs if T.TRIAL_ID in r.data.tags}

    def _search(self, exp_ids: list[str], filter_string: str, *, oldest_first: bool = False) -> list:
        order = ["attributes.start_time ASC"] if oldest_first else None
        runs, token = [], None
        with self._calls("searching runs"):
            while True:
                page = self._client.search_runs(
                    exp_ids, filter_string, run_view_type=ViewType.ACTIVE_ONLY, max_results=PAGE,
                    order_by=order, page_token=token,
                )
                runs.extend(page)
                token = page.token
                if not token:
                    return runs

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        """MLflow's exceptions become one-line TrackingErrors that say what was being done."""
        try:
            yield
        except MlflowException as err:
            if err.error_code in PERMANENT_ERRORS:
                fix = "check the run id / experiment name; a deleted run or experiment must be restored first"
            else:
                fix = f"check that the tracking server at {self.uri} is running and reachable"
            raise TrackingError(f"{what}: {self.scrub(_first_line(err))}", where="tracking", fix=fix) from err

    def scrub(self, text: str) -> str:
        """An error text as it may be shown: the store's secrets (a database password in the
        URI, the http password) replaced, whatever library wrote them into the message."""
        return connection.scrub(text, self.target)


def _record(run) -> RunRecord:
    tags = dict(run.data.tags)
    return RunRecord(
        run_id=run.info.run_id,
        trial_id=tags.get(T.TRIAL_ID),
        parent_id=tags.get(T.PARENT),
        status=run.info.status,
        tags=tags,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        start_time=run.info.start_time,
        end_time=run.info.end_time,
    )


def _eq(key: str, value: str) -> str:
    """A search-filter equality on a tag; backticks because our keys contain dots."""
    if "'" not in value:
        literal = f"'{value}'"
    elif '"' not in value:
        literal = f'"{value}"'
    else:
        raise TrackingError(f"tag value {value!r} holds both quote characters", where="tracking", fix="rename it")
    return f"tags.`{key}` = {literal}"


def _strings(tags: Mapping[str, object]) -> dict[str, str]:
    return {k: str(v)[:8000] for k, v in tags.items()}


def _first_line(err: BaseException) -> str:
    text = getattr(err, "message", None) or str(err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__
