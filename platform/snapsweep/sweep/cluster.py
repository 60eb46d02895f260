"""Connecting to Ray: a local instance (the embedded default) or an existing cluster.

Failures become one-line `ClusterError`s before any trial is scheduled. A Ray session this module
started is shut down when the sweep ends; one that was already running (a notebook, a test
fixture, `ray.init` by the caller) is left as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Iterator, Optional

from snapsweep import settings
from snapsweep.errors import ClusterError
from snapsweep.sweep.resources import TrialResources
from snapsweep.sweep.storage import check_writable, is_local

CONNECT_TIMEOUT_S = 5.0


@dataclass
class Cluster:
    address: Optional[str]  # None: the local instance
    started_here: bool
    nodes: int
    resources: dict = field(default_factory=dict)  # cluster totals, Ray's names (CPU, GPU, TPU, ...)

    def describe(self) -> str:
        where = "local Ray" if self.address is None else f"Ray at {self.address}"
        shown = ", ".join(f"{self.resources[name]:g} {name}" for name in ("CPU", "GPU", "TPU")
                          if self.resources.get(name))
        return f"{where}: {self.nodes} node{'s' if self.nodes != 1 else ''}, {shown}"


def check_reachable(address: str) -> None:
    """Fail in seconds, not after ray.init's minute of retries, when nothing listens there."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"cannot parse Ray address {address!r}", where="ray",
                           fix="use host:port (e.g. 10.0.0.5:6379), ray://host:10001, or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({err.strerror or err})",
                           where="ray", fix="start it (`ray start --head`) or pass the right --address")


@contextlib.contextmanager
def connect(address: Optional[str], *, env_vars: dict[str, str], num_cpus: Optional[int] = None) -> Iterator[Cluster]:
    """Yield a connected `Cluster`; shut Ray down afterwards only if this call started it."""
    import ray

    # Ray's runtime-env agent writes every runtime_env to its log in plain text.
    runtime_env = {"env_vars": {name: value for name, value in env_vars.items() if not is_credential(name)}}
    started_here = False
    # With neither a flag nor RAY_ADDRESS (snapsweep.settings), "local" starts a private instance
    # instead of joining whatever `ray start` last ran on this machine (ray.init's own default).
    address = settings.ray_address(address)
    if ray.is_initialized():
        # The caller's session: our env vars cannot be added to it now; the trainable sets them
        # again itself before JAX allocates anything.
        pass
    else:
        if address is not None:
            check_reachable(address)
        kwargs = dict(
            address=address or "local",
            runtime_env=runtime_env,
            include_dashboard=False,
            # Trial output goes to the trial's log files; the terminal gets our progress lines.
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
        if address is None:
            kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        try:
            ray.init(**kwargs)
        except (ConnectionError, TimeoutError, RuntimeError) as err:
            where = "ray" if address is None else f"ray {address}"
            raise ClusterError(f"cannot connect to Ray: {str(err).splitlines()[0]}", where=where,
                               fix="check the address and that the cluster runs the same Ray version") from err
        started_here = True
    try:
        alive = [node for node in ray.nodes() if node.get("Alive")]
        with _tune_ships_no_credentials():
            yield Cluster(address=address, started_here=started_here, nodes=len(alive),
                          resources=dict(ray.cluster_resources()))
    finally:
        if started_here:
            ray.shutdown()


# Names of environment variables that hold credentials (cloud keys and tokens, passwords).
_CREDENTIAL_MARKERS = ("SECRET", "TOKEN", "PASSWORD", "CREDENTIAL", "ACCESS_KEY")


def is_credential(name: str) -> bool:
    upper = name.upper()
    return upper.startswith("AWS_") or any(marker in upper for marker in _CREDENTIAL_MARKERS)


@contextlib.contextmanager
def _tune_ships_no_credentials() -> Iterator[None]:
    """Ray Tune copies AWS_* credentials from the driver's environment into every trial actor's
    runtime_env, which Ray's runtime-env agent then logs in plain text. For the length of the
    sweep its list leaves credentials out: trial processes get them the way every Ray worker gets
    its environment (inherited from the raylet on a local instance; the cluster's own, e.g. an
    instance role or a mounted secret, on a remote one)."""
    try:
        from ray.tune.execution import class_cache
        names = class_cache.ENV_VARS_TO_PROPAGATE
    except (ImportError, AttributeError):  # another Ray version: nothing of the kind to undo
        yield
        return
    class_cache.ENV_VARS_TO_PROPAGATE = {name for name in names if not is_credential(name)}
    try:
        yield
    finally:
        class_cache.ENV_VARS_TO_PROPAGATE = names


def check_fit(cluster: Cluster, resources: TrialResources, storage_root: str) -> list[str]:
    """Problems with running on `cluster`: raise what can never work, return warnings.

    A local instance cannot grow, so a request it cannot meet fails now instead of Tune waiting
    forever. A remote cluster may autoscale (a KubeRay GPU group at zero replicas shows no GPU
    until a trial asks), so there it is only a warning. Storage that cannot be written (full,
    read-only) fails here too, before the parent run is opened or any trial starts.
    """
    check_writable(storage_root)
    notes = []
    missing = resources.missing_from(cluster.resources)
    if missing:
        need = ", ".join(f"{value:g} {name}" for name, value in missing.items())
        have = ", ".join(f"{cluster.resources.get(name, 0):g} {name}" for name in missing)
        message = f"each trial needs {need} but the cluster has {have}"
        if cluster.address is None:
            raise ClusterError(message, where="resources",
                               fix="lower resources in the spec or pass --address of a cluster that has them")
        notes.append(f"warning: {message}; trials wait until the cluster scales up")
    if cluster.nodes > 1 and is_local(storage_root) and not settings.storage_shared():
        notes.append(
            f"warning: storage {storage_root} is a local path but the cluster has {cluster.nodes} nodes; "
            "checkpoints and resume need storage every node sees (NFS mount, s3://, gs://); "
            f"set {settings.STORAGE_SHARED_ENV}=1 where this path is such a mount"
        )
    return notes
