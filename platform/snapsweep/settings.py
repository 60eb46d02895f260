"""Where snapsweep finds its services and files: the one module that reads the environment.

Every setting is resolved with the same precedence:

    command-line flag (or API argument)  >  spec  >  environment  >  embedded default

    tracking URI  --tracking-uri > tracking.uri > MLFLOW_TRACKING_URI > sqlite:///<cwd>/mlflow.db
    Ray address   --address      > (specs name no cluster) > RAY_ADDRESS > a private local Ray
    storage root  --storage      > storage.path > SNAPSWEEP_STORAGE > ./snapsweep-runs
    spool         SNAPSWEEP_SPOOL > $XDG_CACHE_HOME/snapsweep/spool > ~/.cache/snapsweep/spool

RAY_ADDRESS is how a KubeRay RayJob (or `ray job submit`) tells its entrypoint where the cluster
is; MLFLOW_TRACKING_URI is MLflow's own variable, so a user who exported it for `mlflow ui` gets
the same store here. Pure standard library: the spec layer and the CLI read settings without JAX.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence
from urllib.parse import parse_qsl, unquote, urlencode

from snapsweep.errors import ConfigError

TRACKING_ENV = "MLFLOW_TRACKING_URI"
RAY_ENV = "RAY_ADDRESS"
STORAGE_ENV = "SNAPSWEEP_STORAGE"
# Set to 1 where a local storage path is a mount every node shares (a compose volume, an NFS or
# ReadWriteMany mount): it silences the multi-node warning about local storage.
STORAGE_SHARED_ENV = "SNAPSWEEP_STORAGE_SHARED"
# The tracking journal of each pack (track/journal.py) lives here, on the disk of the machine that
# trains it: never in sweep storage, which may be an object store an outage-and-crash would strand.
SPOOL_ENV = "SNAPSWEEP_SPOOL"
DEFAULT_STORAGE = "snapsweep-runs"  # relative to the working directory
DEFAULT_DB = "mlflow.db"  # the embedded tracking store, in the working directory

# Variables a trial process inherits from the driver when set: data access and caches must behave
# the same in the trial as on the command line (tests set HF_HUB_OFFLINE=1: the hub is unreachable).
CACHE_ENV = ("HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "JAX_PLATFORMS", SPOOL_ENV)


def _env(environ: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _first(*values: Optional[str]) -> Optional[str]:
    for value in values:
        if value:  # an empty variable counts as unset, as in a shell
            return value
    return None


def tracking_uri(flag: Optional[str] = None, spec: Optional[str] = None,
                 environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The MLflow tracking URI (shape checked, credentials still in it: `track.connection` takes them
    out); None means the embedded default (SQLite in the working directory)."""
    uri = _first(flag, spec, _env(environ).get(TRACKING_ENV))
    return None if uri is None else check_tracking_uri(uri)


def tracking_credentials(uri: Optional[str], environ: Optional[Mapping[str, str]] = None) -> Optional[Credentials]:
    """`user:password@` in the URI, else MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD."""
    if uri:
        _, creds = split_credentials(uri)
        if creds is not None:
            return creds
    env = _env(environ)
    user = env.get(USERNAME_ENV)
    return Credentials(user, env.get(PASSWORD_ENV, "")) if user else None


def ray_address(flag: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The Ray cluster to join (shape checked); None means a private local instance."""
    address = _first(flag, _env(environ).get(RAY_ENV))
    return None if address is None else check_ray_address(address)


def storage_root(flag: Optional[str] = None, spec: Optional[str] = None,
                 environ: Optional[Mapping[str, str]] = None) -> str:
    """The storage root as given (a path or URI, shape checked; storage.resolve_root makes paths absolute)."""
    root = _first(flag, spec, _env(environ).get(STORAGE_ENV))
    return DEFAULT_STORAGE if root is None else check_storage(root)


def spool_dir(environ: Optional[Mapping[str, str]] = None) -> str:
    """Local directory of the packs' tracking journals (absolute)."""
    env = _env(environ)
    chosen = _first(env.get(SPOOL_ENV))
    if chosen is None:
        cache = _first(env.get("XDG_CACHE_HOME")) or os.path.join(os.path.expanduser("~"), ".cache")
        chosen = os.path.join(cache, "snapsweep", "spool")
    return os.path.abspath(chosen)


def storage_shared(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether the deployment declares a local storage path shared by every node."""
    return _env(environ).get(STORAGE_SHARED_ENV, "").strip().lower() in ("1", "true", "yes")


def inherited(names: Sequence[str], environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The subset of `names` that is set here: what a trial process starts with besides its own."""
    env = _env(environ)
    return {name: env[name] for name in names if name in env}


# ----------------------------------------------------------------------------------------------
# Shapes: a setting that cannot name a service or a place is refused here, as one line, before
# anything connects. Only the shape is checked (reachability is the connecting module's).

USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
# Schemes MLflow resolves to a tracking store; a URI without a scheme is a local directory.
TRACKING_SCHEMES = ("http", "https", "sqlite", "file", "postgresql", "mysql", "mssql", "databricks")
# Schemes pyarrow's filesystem layer (what Ray Tune's storage_path uses) opens.
STORAGE_SCHEMES = ("file", "s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")
RAY_SPECIAL = ("auto", "local")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
                   r"|\[[0-9A-Fa-f:.]+\])$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
MAX_SETTING_CHARS = 4096


@dataclass(frozen=True)
class Credentials:
    """A user name and password for MLflow; the password is never part of the repr."""

    username: str
    password: str = field(repr=False)


def _plain(value: str, what: str, fix: str) -> None:
    """No NUL, control characters or whitespace, and a sane length: what no URI or path has."""
    if len(value) > MAX_SETTING_CHARS:
        raise ConfigError(f"is {len(value)} characters long (at most {MAX_SETTING_CHARS})",
                          where=what, fix=fix)
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127 or c.isspace() and c != " "), None)
    if bad is not None:
        raise ConfigError(f"contains the control character {bad!r}", where=what, fix=fix)


def _host_port(netloc: str, what: str, shown: str, fix: str, *, port_required: bool) -> None:
    host, sep, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if not sep:
        host, port = netloc, ""
    if not host or not _HOST.match(host):
        raise ConfigError(f"{shown!r} has no valid host (got {host!r})", where=what, fix=fix)
    if sep and not (port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(f"{shown!r} has an invalid port {port!r} (1 to 65535)", where=what, fix=fix)
    if port_required and not sep:
        raise ConfigError(f"{shown!r} names no port", where=what, fix=fix)


def split_credentials(uri: str) -> tuple[str, Optional[Credentials]]:
    """`http://user:password@host:port/x` -> (`http://host:port/x`, Credentials(user, password))."""
    match = _SCHEME.match(uri)
    if not match:
        return uri, None
    rest = uri[match.end():]
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return uri, None
    user, _, password = userinfo.partition(":")
    return f"{match.group(0)}{hostport}{slash}{path}", Credentials(unquote(user), unquote(password))


# Query parameters that carry a secret in database URIs (postgresql://host/db?password=...).
SECRET_QUERY_KEYS = ("password", "pass", "passwd", "pwd", "sslpassword", "token", "secret")


def _query_pairs(uri: str) -> list[tuple[str, str]]:
    _, mark, query = uri.partition("?")
    return [(k, v) for k, v in parse_qsl(query.split("#", 1)[0], keep_blank_values=True)] if mark else []


def query_secrets(uri: str) -> list[str]:
    """The values of the URI's secret query parameters (`?password=...`)."""
    return [v for k, v in _query_pairs(uri) if k.lower() in SECRET_QUERY_KEYS and v]


def redact(uri: str) -> str:
    """The URI as it may be printed: credentials, if any, replaced by `***@`, and the value of a
    secret query parameter (`?password=...`) by `***`."""
    clean, creds = split_credentials(uri)
    if creds is not None:
        scheme = _SCHEME.match(clean).group(0)
        clean = f"{scheme}***@{clean[len(scheme):]}"
    if query_secrets(clean):
        head, _, query = clean.partition("?")
        query, hash_mark, fragment = query.partition("#")
        parts = [(k, "***" if k.lower() in SECRET_QUERY_KEYS and v else v) for k, v in _query_pairs(clean)]
        clean = f"{head}?{urlencode(parts, safe='*')}{hash_mark}{fragment}"
    return clean


def check_tracking_uri(uri: str, what: str = "tracking URI") -> str:
    """The URI (credentials still in it), or ConfigError naming what is wrong (never the password)."""
    fix = ("use http(s)://host:port, sqlite:///path/mlflow.db, postgresql://host:port/db or a directory; "
           "unset it for the embedded store")
    shown = redact(uri)
    _plain(shown, what, fix)
    match = _SCHEME.match(uri)
    if match is None:
        if ":" in uri.split("/", 1)[0]:
            raise ConfigError(f"{shown!r} is not a URI (write scheme://...)", where=what, fix=fix)
        return uri  # a local directory: MLflow's file store
    # A database scheme may name its SQLAlchemy driver: postgresql+psycopg2://, mysql+pymysql://.
    scheme = match.group(1).lower().split("+", 1)[0]
    if scheme not in TRACKING_SCHEMES:
        raise ConfigError(f"{shown!r} has the unknown scheme {match.group(1).lower()!r} "
                          f"(known: {', '.join(TRACKING_SCHEMES)})", where=what, fix=fix)
    clean, _ = split_credentials(uri)
    authority = clean[match.end():].split("/", 1)[0]
    if scheme in ("http", "https", "postgresql", "mysql", "mssql"):
        _host_port(authority, what, shown, fix, port_required=False)
    elif scheme == "sqlite" and (authority or len(clean) <= len("sqlite:///")):
        raise ConfigError(f"{shown!r} names no database file", where=what,
                          fix="write sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return uri


def check_storage(root: str, what: str = "storage") -> str:
    """A local path or an object-store URI with a bucket; ConfigError otherwise."""
    fix = "use a directory, file:///abs/path, s3://bucket/prefix or gs://bucket/prefix"
    _plain(root, what, fix)
    match = _SCHEME.match(root)
    if match is None:
        if not root.strip():
            raise ConfigError("is empty", where=what, fix=fix)
        return root
    scheme = match.group(1).lower()
    if scheme not in STORAGE_SCHEMES:
        raise ConfigError(f"{root!r} has the unknown scheme {scheme!r} (known: {', '.join(STORAGE_SCHEMES)})",
                          where=what, fix=fix)
    rest = root[match.end():]
    if scheme == "file":
        if not rest.startswith("/"):
            raise ConfigError(f"{root!r} is not an absolute file:// path", where=what, fix=fix)
    elif not rest.split("/", 1)[0]:
        raise ConfigError(f"{root!r} names no bucket", where=what, fix=fix)
    return root


def check_ray_address(address: str, what: str = "Ray address") -> str:
    """`auto`, `local`, `host:port` or `ray://host[:port]`; ConfigError otherwise."""
    fix = "use host:port (e.g. 10.0.0.5:6379), ray://host:10001, or auto"
    _plain(address, what, fix)
    if address in RAY_SPECIAL:
        return address
    match = _SCHEME.match(address)
    if match is not None and match.group(1) != "ray":
        raise ConfigError(f"{address!r} has the scheme {match.group(1)!r}; only ray:// is a Ray client address",
                          where=what, fix=fix)
    target = address[match.end():] if match else address
    _host_port(target.rstrip("/"), what, address, fix, port_required=match is None)
    return address


# ----------------------------------------------------------------------------------------------
# The Hugging Face hub: whether it may be asked, and where its datasets are cached.

HUB_OFFLINE_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
HUB_ENDPOINT_ENV = "HF_ENDPOINT"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"


def hub_offline(environ: Optional[Mapping[str, str]] = None) -> bool:
    """True when the hub must not be asked (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE set true)."""
    env = _env(environ)
    return any(env.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in HUB_OFFLINE_ENV)


def hub_endpoint(environ: Optional[Mapping[str, str]] = None) -> str:
    return _first(_env(environ).get(HUB_ENDPOINT_ENV)) or DEFAULT_HUB_ENDPOINT


def hub_cached(hub_path: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether `datasets` could load `hub_path` offline: a copy in its cache or in the hub cache."""
    env = _env(environ)
    home = _first(env.get("HF_HOME")) or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    datasets_cache = _first(env.get("HF_DATASETS_CACHE")) or os.path.join(home, "datasets")
    hub_cache = _first(env.get("HF_HUB_CACHE")) or os.path.join(home, "hub")
    return (os.path.isdir(os.path.join(datasets_cache, hub_path.replace("/", "___")))
            or os.path.isdir(os.path.join(hub_cache, "datasets--" + hub_path.replace("/", "--"))))
