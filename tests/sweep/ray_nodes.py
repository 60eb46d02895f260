"""A two-node Ray cluster on this host for the sweep tests: `ray start --head` plus
`ray start --address`, each in its own session (process group), stopped by their own pids.

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

    def stop(self, grace_s: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # `ray start` stops its node's processes in order
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of this node's group is left
        except (ProcessLookupError, PermissionError):
            pass


class TwoNodeCluster:
    """Head: 1 CPU, nothing else. Worker: 1 CPU plus `worker_resources` (e.g. a fake GPU and TPU)."""

    def __init__(self, *, worker_gpus: int = 0, worker_resources: Optional[dict] = None):
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ss2n-", dir="/tmp"))  # short: unix socket paths
        self.address = f"127.0.0.1:{free_port()}"
        sizes = ["--memory", str(2 << 30), "--object-store-memory", str(300 << 20), "--disable-usage-stats",
                 "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
        self.head = Node(["--head", "--port", self.address.split(":")[1], "--num-gpus", "0",
                          "--include-dashboard", "false", "--dashboard-port", str(free_port()),
                          "--dashboard-agent-listen-port", str(free_port()), "--temp-dir", str(self.temp_dir),
                          *sizes], self.temp_dir / "head.log")
        self.worker_args = ["--address", self.address, "--num-gpus", str(worker_gpus),
                            "--resources", json.dumps(worker_resources or {}), *sizes]
        self.worker: Optional[Node] = None

    def start(self) -> "TwoNodeCluster":
        self.head.wait_started()
        self.worker = Node(self.worker_args, self.temp_dir / "worker.log")
        self.worker.wait_started()
        return self

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.head.stop()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
