"""The tracking journal: every MLflow operation of one pack, on local disk, until MLflow holds it.

A pack must train on while the tracking server is away, for a minute or for an hour, and what it
would have told MLflow must arrive later in the same order, once. So a trial never calls MLflow
for its member runs directly: it appends operations here (open a run, set tags, log metrics, finish
a run with its summary and artifacts) and `track.replay.Replayer` applies them in order.

On disk, in one directory per pack on this machine's own disk (`settings.spool_dir`, never the
sweep storage, which may be an object store):

    journal.jsonl   one JSON object per operation, appended and fsynced before `append` returns
    progress.json   {"applied": <seq of the last applied operation>, "runs": {trial id: run id}}
    artifacts/      files a finish operation uploads, copied here when it is queued

Operations refer to member runs by trial id: the run id is not known while the server is away.
`progress.json` is written after an operation is applied; a crash in between re-applies it, which
is why every operation is idempotent (`track.replay`). A pack resumed on another machine finds no
journal there: the pending operations also travel inside each checkpoint (`export`/`absorb`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterable, Optional

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"
PROGRESS_FILE = "progress.json"
ARTIFACTS_DIR = "artifacts"
# The name of the pending operations inside a checkpoint directory.
CHECKPOINT_FILE = "tracking-journal.jsonl"

# Operation kinds, in the order a run meets them.
OPEN, TAGS, METRICS, FINISH = "open", "tags", "metrics", "finish"
KINDS = (OPEN, TAGS, METRICS, FINISH)


class Journal:
    """The operations of one pack in `directory`; `pending()` are those not yet applied."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        progress = _read_json(self.directory / PROGRESS_FILE) or {}
        self.applied = int(progress.get("applied", 0))
        self.runs: dict[str, str] = dict(progress.get("runs", {}))
        self._ops = [op for op in _read_lines(self.directory / JOURNAL_FILE) if op["seq"] > self.applied]
        self._seq = max([self.applied, *(op["seq"] for op in self._ops)])

    # -- queueing ----------------------------------------------------------------------------------

    def append(self, ops: Iterable[dict]) -> list[dict]:
        """Queue operations (`{"op": kind, "trial": trial id, ...}`), durable when this returns."""
        stamped = []
        for op in ops:
            if op.get("op") not in KINDS or not op.get("trial"):
                raise ValueError(f"not a journal operation: {op!r}")
            self._seq += 1
            stamped.append({**op, "seq": self._seq, "uid": op.get("uid") or uuid.uuid4().hex})
        if not stamped:
            return []
        with open(self.directory / JOURNAL_FILE, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(op) + "\n" for op in stamped)
            handle.flush()
            os.fsync(handle.fileno())
        self._ops.extend(stamped)
        return stamped

    def stash(self, path: str | os.PathLike) -> str:
        """Copy a file (or directory) to upload later into the journal; returns the copy's path.
        The original may be gone by the time the server is back (a trial's scratch directory)."""
        source = Path(path)
        target = self.directory / ARTIFACTS_DIR / uuid.uuid4().hex / source.name
        target.parent.mkdir(parents=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        return str(target)

    # -- progress ----------------------------------------------------------------------------------

    def pending(self) -> list[dict]:
        return list(self._ops)

    def done(self, op: dict, run_id: Optional[str] = None) -> None:
        """Record `op` (the first pending one) as applied; `run_id`: the run an open resolved to."""
        if not self._ops or self._ops[0]["seq"] != op["seq"]:
            raise ValueError(f"operation {op['seq']} is not the next pending one")
        self._ops.pop(0)
        self.applied = op["seq"]
        if run_id is not None:
            self.runs[op["trial"]] = run_id
        _write_json(self.directory / PROGRESS_FILE, {"applied": self.applied, "runs": self.runs})
        for artifact in (op.get("artifacts") or {}).values():
            if Path(artifact).is_relative_to(self.directory / ARTIFACTS_DIR):
                shutil.rmtree(Path(artifact).parent, ignore_errors=True)
        if not self._ops:
            # Everything is applied: start the file over, so a long pack does not re-read its past.
            # progress.json already says `applied`, so a crash before this line loses nothing.
            _write_lines(self.directory / JOURNAL_FILE, [])

    def remove(self) -> None:
        """Delete the journal once every operation is applied and the runs are closed."""
        if self._ops:
            raise ValueError(f"{len(self._ops)} operations are not applied yet")
        shutil.rmtree(self.directory, ignore_errors=True)
        with contextlib.suppress(OSError):  # the sweep run's directory, once its last pack is done
            self.directory.parent.rmdir()

    # -- travelling with a checkpoint --------------------------------------------------------------

    def export(self, path: str | os.PathLike) -> int:
        """Write the pending operations (and the run ids known) to `path`, a file in a checkpoint
        directory; returns how many. No file when nothing is pending."""
        if not self._ops:
            return 0
        _write_lines(Path(path), [{"runs": self.runs}, *self._ops])
        return len(self._ops)

    def absorb(self, path: str | os.PathLike) -> int:
        """Queue the operations another process exported to `path` (a restored checkpoint's) ahead
        of anything this process adds; those already queued here (same uid) are not queued twice.
        Returns how many were added."""
        lines = _read_lines(Path(path), header=True)
        if not lines:
            return 0
        header, ops = lines[0], lines[1:]
        for trial, run_id in (header.get("runs") or {}).items():
            self.runs.setdefault(trial, run_id)
        known = {op["uid"] for op in self._ops}
        return len(self.append({k: v for k, v in op.items() if k != "seq"} for op in ops if op["uid"] not in known))


def _read_lines(path: Path, *, header: bool = False) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            item = json.loads(line)
        except ValueError:
            # Only the last line can be cut short (a crash mid-append, before its fsync returned):
            # that operation was never acknowledged, so skipping it loses nothing that was promised.
            log.warning("%s:%d: skipped an unreadable journal line", path, number)
            continue
        if isinstance(item, dict) and (("seq" in item and "uid" in item) or (header and number == 1)):
            out.append(item)
    return out


def _write_lines(path: Path, items: list[dict]) -> None:
    """Replace `path` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(item) + "\n" for item in items)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        # Missing or cut short: every operation counts as pending, and re-applying is harmless.
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict) -> None:
    # No fsync: a progress file lost to a power cut only means operations applied again.
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
