"""Every error a user can cause, in one place.

The CLI prints a `SnapsweepError` as one line (`error: <where>: <what> (fix: <hint>)`) and exits
non-zero; anything else is a bug and keeps its traceback. This module imports nothing heavy so
every layer, `rtrl` included, can raise these.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Callable


class SnapsweepError(Exception):
    """Base class: an error caused by input, not by a bug. Exit code `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.fix = fix

    def one_line(self) -> str:
        parts = [f"{self.where}: " if self.where else "", self.message]
        if self.fix:
            parts.append(f" (fix: {self.fix})")
        return "".join(parts).replace("\n", " ")

    def __str__(self) -> str:  # so that str(err) is the same single line
        return self.one_line()


class ConfigError(SnapsweepError):
    """A setting is invalid or settings contradict each other (method, cell, size, density, ...)."""


class SpecError(SnapsweepError):
    """A YAML spec is invalid; `where` is `file:line` and the message names the field.

    `problems`: every problem found in the spec, each a located SpecError of its own, this one's
    first; the one-line form names the first and counts the rest (`snapsweep validate` prints all)."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None,
                 problems: "list[SpecError] | None" = None):
        super().__init__(message, where=where, fix=fix)
        self.problems = list(problems) if problems else [self]


class DataError(SnapsweepError):
    """Training data is missing, unreachable or too small for the requested crop."""


class BudgetError(ConfigError):
    """A method would exceed a memory budget at this size (e.g. exact RTRL at large k)."""


class CheckpointError(SnapsweepError):
    """A checkpoint is missing, incomplete or belongs to different settings."""


class TrackingError(SnapsweepError):
    """The tracking server cannot be reached or refused a request."""


class ClusterError(SnapsweepError):
    """The Ray cluster cannot be reached or cannot satisfy the requested resources."""


class StorageError(SnapsweepError):
    """Storage cannot be written: the disk is full, the filesystem is read-only or not this user's."""

    @classmethod
    @contextlib.contextmanager
    def on_write(cls, where: str, doing: str, elsewhere: str, cleanup: Callable[[], None] | None = None):
        """Turn an OSError the user can remedy (full, read-only, not permitted) inside the block
        into this error, one line: `where`, "cannot <doing>: <why>", the fix or `elsewhere` (e.g.
        "pass --storage of a writable directory"). Other OSErrors (I/O faults) pass unchanged.
        `cleanup` runs first on any OSError (e.g. remove a partial write)."""
        try:
            yield
        except OSError as err:
            if cleanup is not None:
                cleanup()
            remedy = _WRITE_REMEDIES.get(err.errno)
            if remedy is None:
                raise
            what, fix = remedy
            raise cls(f"cannot {doing}: {what}", where=where, fix=f"{fix}, or {elsewhere}") from err


_WRITE_REMEDIES = {
    errno.ENOSPC: ("no space left on the device", "free space there"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space there"),
    errno.EROFS: ("the filesystem is read-only", "remount it read-write"),
    errno.EACCES: ("permission denied", "make it writable by this user"),
    errno.EPERM: ("operation not permitted", "make it writable by this user"),
}
