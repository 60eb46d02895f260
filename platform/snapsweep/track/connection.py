"""Which tracking store to talk to, and failing fast when it is not there.

`None` means the embedded default: SQLite in the working directory, artifacts beside it, what
`mlflow ui` in that directory shows. An http(s) URI is checked with one short `/health` request, so a
wrong address fails in seconds with a fix instead of after MLflow's retry loop (7 retries with
exponential backoff, minutes).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from snapsweep.errors import TrackingError

# MLflow reads these on every request. Defaults chosen for a trainer that has its own outage
# buffer: a refused connection fails within about 3 s and the points wait in the buffer, instead of
# the trial blocking for minutes. `setdefault`: an operator's own setting wins.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


@dataclass(frozen=True)
class Target:
    uri: str
    # Artifact root for experiments this tracker creates; None: the server decides
    # (mlflow-artifacts:/ proxied to its --artifacts-destination).
    artifact_root: Optional[str]

    @property
    def is_http(self) -> bool:
        return self.uri.startswith(("http://", "https://"))


def resolve(uri: Optional[str], workdir: Optional[str | os.PathLike] = None) -> Target:
    if uri is None:
        base = Path(workdir or os.getcwd()).resolve()
        return Target(f"sqlite:///{base / 'mlflow.db'}", str(base / "mlartifacts"))
    if uri.startswith("sqlite:///"):
        # Experiments created here keep their artifacts beside the database file, not in ./mlruns
        # of whatever directory the process happens to run in.
        path = Path(uri[len("sqlite:///"):]).resolve()
        return Target(uri, str(path.parent / "mlartifacts"))
    return Target(uri, None)


def configure_http() -> None:
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Raise TrackingError (one line, with the fix) unless `<uri>/health` answers 200."""
    url = uri.rstrip("/") + "/health"
    fix = (
        "start the server (`mlflow server --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 "
        "--port 5000`), correct the tracking URI, or leave it unset to use the embedded SQLite store"
    )
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            if response.status == 200:
                return
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise TrackingError(
            f"cannot reach the MLflow tracking server at {uri} ({reason})", where="tracking", fix=fix
        ) from None
    if status in (400, 403):
        # MLflow 3 answers 403 to a Host header it was not told to accept.
        host = uri.split("://", 1)[1].split("/", 1)[0]
        fix = f"start the server with `--allowed-hosts {host}` (it refused this Host header)"
    raise TrackingError(
        f"the MLflow tracking server at {uri} answered HTTP {status} to /health", where="tracking", fix=fix
    )
