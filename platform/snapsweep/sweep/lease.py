"""A pack's lease: one driver at a time trains a pack, even when two `snapsweep run` share a sweep.

The lease is a file, `<pack dir>/lease.json`, created with O_CREAT | O_EXCL (so of two processes
creating it at once exactly one succeeds) and holding the owner (the `sweep.run` call that holds
it), the host and pid of the process that renews it, and a heartbeat time. While the pack trains a
background thread rewrites the heartbeat every `renew_s`; a lease whose heartbeat is older than
`ttl_s`, or whose renewing process is gone from this host, is stale and is taken over, so a driver
that died does not block its packs for longer than the TTL. The owner's own lease (a trial Tune
retries after its process was killed) is taken over at once.

Taking a stale lease over renames it aside first: of two processes taking over the same stale
lease only one rename succeeds, and the winner checks that what it moved is the stale lease it
judged (not a fresh one just created by a third process; that one is put back).

Leases need a POSIX filesystem (a local disk or a shared mount). On an object store (s3://, gs://)
there is no exclusive create, and packs are not leased.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

LEASE_FILE = "lease.json"
TTL_S = 60.0  # a lease not renewed for this long belongs to a driver that is gone
RENEW_S = 10.0


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    pid: int
    heartbeat: float  # time.time() of the last renewal

    def age(self, now: float) -> float:
        return max(0.0, now - self.heartbeat)

    def describe(self, now: float) -> str:
        return f"driver {self.owner[:8]} (pid {self.pid} on {self.host}, heartbeat {self.age(now):.0f}s ago)"


def new_owner() -> str:
    """The id of one `sweep.run` call: every trial it starts holds leases under this owner."""
    return uuid.uuid4().hex


class PackLease:
    """The lease of the pack in `pack_dir` for `owner`: `acquire()` -> None (held, renewed in the
    background until `release()`) or the Holder that has it."""

    def __init__(self, pack_dir: str, owner: str, *, ttl_s: float = TTL_S, renew_s: float = RENEW_S,
                 clock: Callable[[], float] = time.time):
        self.path = os.path.join(pack_dir, LEASE_FILE)
        self.owner = owner
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- taking it -----------------------------------------------------------------------------

    def acquire(self) -> Optional[Holder]:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for _ in range(3):  # create; else take a stale one over; a lost race tries again
            if self._create():
                self._start_renewing()
                return None
            holder = read(self.path)
            if holder is not None and not self._stale(holder):
                return holder
            if holder is None and self._young(self.path):
                # Unreadable but new: another process is between creating and writing it.
                return Holder("unknown", "?", -1, self._clock())
            self._take_over(holder)
        holder = read(self.path)
        return holder or Holder("unknown", "?", -1, self._clock())

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self._record(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _record(self) -> dict:
        return {"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": self._clock()}

    def _stale(self, holder: Holder) -> bool:
        if holder.owner == self.owner:
            return True  # ours, from a process of this driver that died (Tune retries the trial)
        if holder.host == socket.gethostname() and not _alive(holder.pid):
            return True
        return holder.age(self._clock()) > self.ttl_s

    def _young(self, path: str) -> bool:
        try:
            return self._clock() - os.stat(path).st_mtime <= self.ttl_s
        except FileNotFoundError:
            return False

    def _take_over(self, judged: Optional[Holder]) -> None:
        aside = f"{self.path}.stale-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # someone else moved it; try to create again
        moved = read(aside)
        if moved != judged:
            # A fresh lease appeared between reading and renaming: give it back (link fails if a
            # newer one exists already, which is then the lease).
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        os.unlink(aside)

    # -- holding it ----------------------------------------------------------------------------

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="snapsweep-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_s):
            self.renew()

    def renew(self) -> None:
        """Rewrite the heartbeat (temporary file, then rename: a reader never sees half a file)."""
        holder = read(self.path)
        if holder is None or holder.owner != self.owner or holder.pid != os.getpid():
            return  # not ours any more (taken over after a stall): do not overwrite the new holder
        tmp = f"{self.path}.renew-{uuid.uuid4().hex[:8]}"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self._record(), handle)
        os.replace(tmp, self.path)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_s + 5)
            self._thread = None
        holder = read(self.path)
        if holder is not None and holder.owner == self.owner and holder.pid == os.getpid():
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "PackLease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def read(path: str) -> Optional[Holder]:
    """The holder recorded in a lease file, or None when there is none or it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return Holder(str(data["owner"]), str(data["host"]), int(data["pid"]), float(data["heartbeat"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_holder(pack_dir: str) -> Optional[Holder]:
    """The holder of the pack's lease while it is live, else None (read only: nothing is taken
    over or renewed). Live: renewed within the TTL, by a process that still exists where that can
    be seen (this host)."""
    holder = read(os.path.join(pack_dir, LEASE_FILE))
    if holder is None or holder.age(time.time()) > TTL_S:
        return None
    if holder.host == socket.gethostname() and not _alive(holder.pid):
        return None
    return holder


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True
