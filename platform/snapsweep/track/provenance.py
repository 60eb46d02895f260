"""Where a result came from: package version, git commit, JAX versions and the device.

Stored as tags on every member run, so a number in a report can be traced to the code and the
hardware that produced it. jax is imported lazily: the tracker itself must not need it, and asking
for the device initialises a backend, which only the trial process (that trains) should do.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

# A container built from a source tree without .git passes the commit in this variable.
GIT_COMMIT_ENV = "SNAPSWEEP_GIT_COMMIT"

VERSION = "snapsweep.version"
GIT_COMMIT = "snapsweep.git_commit"
GIT_DIRTY = "snapsweep.git_dirty"
PYTHON = "snapsweep.python"
HOST = "snapsweep.host"
JAX_VERSION = "snapsweep.jax_version"
JAXLIB_VERSION = "snapsweep.jaxlib_version"
BACKEND = "snapsweep.backend"
DEVICE_KIND = "snapsweep.device_kind"
DEVICE_COUNT = "snapsweep.device_count"


def provenance(*, device: bool = True) -> dict[str, str]:
    """Tags describing this process; `device=False` skips jax (no backend initialisation)."""
    import snapsweep

    tags = {
        VERSION: snapsweep.__version__,
        PYTHON: platform.python_version(),
        HOST: socket.gethostname(),
    }
    tags.update(_git())
    if device:
        tags.update(_jax())
    return tags


def standard_tags(tags: dict[str, str], source: str) -> dict[str, str]:
    """MLflow's own fields from our provenance: the run page shows source, commit and user."""
    out = {"mlflow.source.name": source, "mlflow.source.type": "LOCAL", "mlflow.user": _user()}
    if tags.get(GIT_COMMIT):
        out["mlflow.source.git.commit"] = tags[GIT_COMMIT]
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers) and no LOGNAME/USER
        return "unknown"


def _git() -> dict[str, str]:
    commit = os.environ.get(GIT_COMMIT_ENV)
    if commit:
        return {GIT_COMMIT: commit}
    source = Path(__file__).resolve().parent
    head = _run_git(source, "rev-parse", "HEAD")
    if not head:
        return {}
    # Tracked files only: untracked scratch files do not change what the code computes.
    status = _run_git(source, "status", "--porcelain", "--untracked-files=no")
    out = {GIT_COMMIT: head}
    if status is not None:
        out[GIT_DIRTY] = "true" if status else "false"
    return out


def _run_git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _jax() -> dict[str, str]:
    try:
        import jax
    except ImportError:
        return {}
    out = {JAX_VERSION: jax.__version__}
    try:
        import jaxlib

        out[JAXLIB_VERSION] = jaxlib.__version__
    except (ImportError, AttributeError):
        pass
    try:
        devices = jax.devices()
    except RuntimeError as err:  # no usable backend: record why instead of failing the run
        out[BACKEND] = f"unavailable: {err}"[:250]
        return out
    out[BACKEND] = jax.default_backend()
    out[DEVICE_KIND] = devices[0].device_kind
    out[DEVICE_COUNT] = str(len(devices))
    return out


if __name__ == "__main__":  # python -m snapsweep.track.provenance: what a run would record here
    for key, value in provenance().items():
        print(f"{key}: {value}", file=sys.stdout)
