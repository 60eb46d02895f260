"""Which tracking store to talk to, and failing fast when it is not there.

`None` means the embedded default: SQLite in the working directory, artifacts beside it, what
`mlflow ui` in that directory shows. An http(s) URI is checked with one short `/health` request, so a
wrong address fails in seconds with a fix instead of after MLflow's retry loop (7 retries with
exponential backoff, minutes).

Credentials come as `user:password@` in the URI or as MLFLOW_TRACKING_USERNAME/PASSWORD. They are
taken out of the URI here: `Target.uri` never holds them (it is what errors, tags and printed lines
show), and MLflow's client gets them through its own environment variables (`use_credentials`),
which trial processes started by a local Ray inherit. A database URI (postgresql://user:pw@...)
keeps its password only in `Target.store_uri`, what MLflow's SQLAlchemy store connects with.
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from snapsweep import settings
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
    uri: str  # without credentials: what may be printed, logged and tagged
    # Artifact root for experiments this tracker creates; None: the server decides
    # (mlflow-artifacts:/ proxied to its --artifacts-destination).
    artifact_root: Optional[str]
    credentials: Optional[settings.Credentials] = None
    # What MLflow's client is given: `uri`, except that a database URI keeps its password.
    store_uri: str = field(default="", repr=False)

    def __post_init__(self):
        if not self.store_uri:
            object.__setattr__(self, "store_uri", self.uri)

    @property
    def is_http(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    def secrets(self) -> list[str]:
        """The passwords this target holds, as they may appear in a library's error text."""
        found = [self.credentials.password] if self.credentials is not None else []
        _, in_uri = settings.split_credentials(self.store_uri)
        if in_uri is not None:
            found.append(in_uri.password)
        found.extend(settings.query_secrets(self.store_uri))
        return [s for s in found if s]


def resolve(uri: Optional[str], workdir: Optional[str | os.PathLike] = None) -> Target:
    """`uri` None: MLFLOW_TRACKING_URI when set, else the embedded store (snapsweep.settings)."""
    uri = settings.tracking_uri(uri)
    if uri is not None and uri.startswith(("http://", "https://")):
        clean, _ = settings.split_credentials(uri)
        return Target(clean, None, settings.tracking_credentials(uri))
    if uri is None:
        base = Path(workdir or os.getcwd()).resolve()
        return Target(f"sqlite:///{base / settings.DEFAULT_DB}", str(base / "mlartifacts"))
    if uri.startswith("sqlite:///"):
        # Experiments created here keep their artifacts beside the database file, not in ./mlruns
        # of whatever directory the process happens to run in.
        path = Path(uri[len("sqlite:///"):]).resolve()
        return Target(uri, str(path.parent / "mlartifacts"))
    return Target(settings.redact(uri), None, store_uri=uri)


# Passwords shorter than this are not searched for in error texts: replacing every "ab" in a
# message would garble it, and such a password is no secret anyway.
MIN_SCRUBBED = 3


def scrub(text: str, target: Target) -> str:
    """`text` with the target's full URI and passwords (plain and URL-quoted) replaced."""
    if target.store_uri != target.uri:
        text = text.replace(target.store_uri, target.uri)
    for secret in target.secrets():
        if len(secret) >= MIN_SCRUBBED:
            for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
                text = text.replace(form, "***")
    return text


def configure_http() -> None:
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def use_credentials(credentials: Optional[settings.Credentials]) -> None:
    """Hand credentials to MLflow's client the one way it reads them: its environment variables."""
    if credentials is not None:
        os.environ[settings.USERNAME_ENV] = credentials.username
        os.environ[settings.PASSWORD_ENV] = credentials.password


def check_reachable(uri: str, timeout_s: float = 5.0, credentials: Optional[settings.Credentials] = None) -> None:
    """Raise TrackingError (one line, with the fix) unless `<uri>/health` answers 200."""
    url = uri.rstrip("/") + "/health"
    request = urllib.request.Request(url)
    if credentials is not None:
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    fix = (
        "start the server (`mlflow server --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 "
        "--port 5000`), correct the tracking URI, or leave it unset to use the embedded SQLite store"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
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
    if status == 401:
        fix = ("give the server's credentials as http://user:password@host:port or in "
               f"{settings.USERNAME_ENV} / {settings.PASSWORD_ENV}")
    elif status in (400, 403):
        # MLflow 3 answers 403 to a Host header it was not told to accept.
        host = uri.split("://", 1)[1].split("/", 1)[0]
        fix = f"start the server with `--allowed-hosts {host}` (it refused this Host header)"
    raise TrackingError(
        f"the MLflow tracking server at {uri} answered HTTP {status} to /health", where="tracking", fix=fix
    )
