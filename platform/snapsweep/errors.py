"""Every error a user can cause, in one place.

The CLI prints a `SnapsweepError` as one line (`error: <where>: <what> (fix: <hint>)`) and exits
non-zero; anything else is a bug and keeps its traceback. This module imports nothing heavy so
every layer, `rtrl` included, can raise these.
"""

from __future__ import annotations


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
