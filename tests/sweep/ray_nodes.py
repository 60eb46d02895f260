"""A multi-node Ray cluster on this host for the sweep and fault tests: `ray start --head` plus
`ray start --address` per worker, each in its own session (process group), stopped by their own pids.

The session-wide `ray_local` head (tests/conftest.py) is left alone: adding a node to it would
change what every other test sees.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process on this host (from /proc)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
                    out[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


class Node:
    def __init__(self, args: list[str], log: Path):
        self.log = log
        # Ray 2.60 turns token authentication on for `ray start`; the test driver carries none.
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        with open(log, "w") as handle:
            self.proc = subprocess.Popen([RAY, "start", "--block", *args], env=env, stdout=handle,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_started(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.25)
        raise RuntimeError(f"ray start not up after {timeout_s:.0f} s:\n{self.log.read_text()[-3000:]}")

    def processes(self) -> set[int]:
        """This node's processes: `ray start` and all its descendants (Ray's workers start sessions
        of their own, so the process group alone misses them)."""
        parents, found = _parents(), {self.proc.pid}
        grew = True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in found} - found
            found |= more
            grew = bool(more)
        return found

    def kill(self) -> None:
        """SIGKILL the node's session and every process it started (raylet, object store, workers),
        at once, as a lost machine goes: nothing is told to stop."""
        doomed = self.processes() if self.proc.poll() is None else set()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait(timeout=30)

    def stop(self, grace_s: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # `ray start` stops its node's processes in order
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # whatever of this node's group is left


class SameHostCluster:
    """A head with `head_cpus` CPUs and nothing else, and `workers` worker nodes of 1 CPU each plus
    `worker_gpus` and `worker_resources` (e.g. a fake GPU and TPU), every node in its own session."""

    def __init__(self, *, workers: int = 1, head_cpus: int = 1, worker_gpus: int = 0,
                 worker_resources: Optional[dict] = None):
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ss2n-", dir="/tmp"))  # short: unix socket paths
        self.address = f"127.0.0.1:{free_port()}"
        sizes = ["--memory", str(2 << 30), "--object-store-memory", str(300 << 20), "--disable-usage-stats",
                 "--node-ip-address", "127.0.0.1"]
        self.head = Node(["--head", "--port", self.address.split(":")[1], "--num-cpus", str(head_cpus),
                          "--num-gpus", "0", "--include-dashboard", "false", "--dashboard-port", str(free_port()),
                          "--dashboard-agent-listen-port", str(free_port()), "--temp-dir", str(self.temp_dir),
                          *sizes], self.temp_dir / "head.log")
        self.worker_args = ["--address", self.address, "--num-cpus", "1", "--num-gpus", str(worker_gpus),
                            "--resources", json.dumps(worker_resources or {}), *sizes]
        self.worker_count = workers
        self.workers: list[Node] = []

    def start(self) -> "SameHostCluster":
        self.head.wait_started()
        for i in range(self.worker_count):
            self.workers.append(Node(self.worker_args, self.temp_dir / f"worker-{i}.log"))
            self.workers[-1].wait_started()
        return self

    def node_of(self, pid: int) -> Optional[Node]:
        """The worker node that started process `pid`, if any."""
        return next((node for node in self.workers if pid in node.processes()), None)

    def stop(self) -> None:
        for node in self.workers:
            node.stop()
        self.head.stop()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
