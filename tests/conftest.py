"""Shared fixtures: real MLflow server and Ray head processes, started once per session.

Every test runs by default (no --runslow); integration tests are marked `integration` for
selection (`-m "not integration"` for a quick pass), never skipped.

Servers are started with `setsid` (a new process group, so that stopping one kills exactly its
own process tree and nothing another user or test run started) on free loopback ports,
with their state under a temporary directory.
"""

from __future__ import annotations

import os

# Before any test module imports jax, datasets or mlflow: the hub is unreachable here, JAX must not
# grab 75% of an accelerator per process, and nothing should try to phone home.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Iterator, Optional  # noqa: E402

import pytest  # noqa: E402

BIN = Path(sys.executable).parent  # the venv's bin: mlflow and ray console scripts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_group(proc: subprocess.Popen, *, leader_first: bool, grace_s: float) -> None:
    """Stop the process group led by `proc` (its own session): SIGTERM, wait, then SIGKILL."""
    if proc.poll() is None:
        try:
            if leader_first:
                proc.send_signal(signal.SIGTERM)  # the leader shuts its children down in order
            else:
                os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Children left behind (workers, a uvicorn worker) are still in the group: kill them too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class MlflowServer:
    """A real `mlflow server` (SQLite backend, local proxied artifacts) that can stop and restart
    on the same port and database, to test what clients do during an outage."""

    def __init__(self, root: Path, port: Optional[int] = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.db = self.root / "mlflow.db"
        self.artifacts = self.root / "mlartifacts"
        self.log = self.root / "server.log"
        self.proc: Optional[subprocess.Popen] = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> "MlflowServer":
        if self.proc is not None and self.proc.poll() is None:
            return self
        cmd = [
            str(BIN / "mlflow"), "server",
            "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.db}",
            "--artifacts-destination", str(self.artifacts),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--allowed-hosts", f"127.0.0.1:{self.port},localhost:{self.port}",
        ]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        log = open(self.log, "a")
        log.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n")
        log.flush()
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {timeout_s:.0f} s:\n{_tail(self.log)}")

    def stop(self) -> None:
        if self.proc is None:
            return
        _stop_group(self.proc, leader_first=False, grace_s=10)
        self.proc = None
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> "MlflowServer":
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log, lines)


@pytest.fixture(scope="session", autouse=True)
def tracking_spool(tmp_path_factory) -> Iterator[Path]:
    """The packs' tracking journals (SNAPSWEEP_SPOOL) under the session's temporary directory, not
    in the user's cache; trial processes get it through the trial environment."""
    spool = tmp_path_factory.mktemp("spool")
    saved = os.environ.get("SNAPSWEEP_SPOOL")
    os.environ["SNAPSWEEP_SPOOL"] = str(spool)
    yield spool
    if saved is None:
        os.environ.pop("SNAPSWEEP_SPOOL", None)
    else:
        os.environ["SNAPSWEEP_SPOOL"] = saved


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[MlflowServer]:
    """One `mlflow server` for the session; `.uri` is its http address. Do not stop it in a test
    (use `mlflow_server_factory` for that)."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        server.start()
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def mlflow_server_factory(request, tmp_path_factory) -> Iterator[Callable[..., MlflowServer]]:
    """`factory(port=None) -> MlflowServer` started, private to the test, stopped at its end
    (`.stop()`, `.start()` and `.restart()` keep the port and the database)."""
    servers: list[MlflowServer] = []
    request.node._snapsweep_mlflow_servers = servers  # for the failure report below

    def make(port: Optional[int] = None) -> MlflowServer:
        server = MlflowServer(tmp_path_factory.mktemp("mlflow-private"), port)
        servers.append(server)
        try:
            return server.start()
        except RuntimeError as err:
            pytest.fail(str(err), pytrace=False)

    yield make
    for server in servers:
        server.stop()


class RayHead:
    """`ray start --head --block` in its own session, sized for a shared 2-core, 24 GiB box."""

    def __init__(self, num_cpus: int = 2, memory: int = 4 << 30, object_store_memory: int = 512 << 20):
        # A short private temp dir: Ray's unix socket paths must stay under 107 characters, and
        # a private one keeps this test run's logs apart from any other Ray on the machine.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ssray-", dir="/tmp"))
        self.log = self.temp_dir / "head.log"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.cmd = [
            str(BIN / "ray"), "start", "--head", "--block",
            "--port", str(self.port),
            "--node-ip-address", "127.0.0.1",
            "--num-cpus", str(num_cpus),
            "--num-gpus", "0",
            "--memory", str(memory),
            "--object-store-memory", str(object_store_memory),
            "--include-dashboard", "false",
            # Fixed default ports would collide with another Ray head on the machine.
            "--dashboard-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()),
            "--temp-dir", str(self.temp_dir),
            "--disable-usage-stats",
        ]
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout_s: float = 90.0) -> "RayHead":
        # Ray 2.60 turns token authentication on for `ray start`; drivers in the tests do not
        # carry a token, and the cluster only listens on loopback.
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                self.cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.proc.returncode}:\n{_tail(self.log)}")
            if "Ray runtime started" in self.log.read_text(errors="replace") and _port_open(self.port):
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"Ray head not up after {timeout_s:.0f} s:\n{_tail(self.log)}")

    def stop(self) -> None:
        if "ray" in sys.modules:  # a test connected this process as a driver
            import ray

            if ray.is_initialized():
                ray.shutdown()
        if self.proc is not None:
            # SIGTERM to `ray start` alone drains the node and stops its processes in order
            # (about 3 s); a SIGTERM to the whole group at once leaves the GCS hanging.
            _stop_group(self.proc, leader_first=True, grace_s=40)
            self.proc = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[str]:
    """Address (`127.0.0.1:<port>`) of a local Ray head with 2 CPUs, 4 GiB task memory and a
    512 MiB object store. Connect with `ray.init(address=ray_local)`; a test that connects need
    not disconnect (the fixture calls `ray.shutdown()` at the end of the session)."""
    head = RayHead()
    try:
        head.start()
    except RuntimeError as err:
        pytest.fail(str(err), pytrace=False)
    yield head.address
    head.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used a server fixture gets the server's log tail in its report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    servers = list(getattr(item, "_snapsweep_mlflow_servers", []))
    shared = getattr(item, "funcargs", {}).get("mlflow_server")
    if isinstance(shared, MlflowServer):
        servers.insert(0, shared)
    for server in servers:
        report.sections.append((f"mlflow server log, port {server.port} (tail)", server.log_tail()))
