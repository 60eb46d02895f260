"""The MLflow server stopped under a real `snapsweep run` sweep, at the moments that used to fail a
pack: when the pack opens its runs, and from mid-training across the pack's end (its last metrics,
summary tags, artifacts and status). Training goes on, every tracking operation waits in the
pack's journal on local disk, and once the server is back each arrives once: one run per trial,
every member FINISHED with its summary and artifacts, every history with its steps once, the
parent FINISHED, exit 0. The server down when `run` starts is waited for, with a countdown, when
asked (`--wait-for-tracking`; without it, one line: tests/sweep/test_sweep_units.py).

SNAPSWEEP_OUTAGE_S sets the outage (default 40 s); `SNAPSWEEP_OUTAGE_S=600` is the 10-minute one.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import tiny_spec_text
from mlflow import MlflowClient

from snapsweep import spec
from snapsweep.sweep import work
from snapsweep.sweep.storage import PackStore
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

OUTAGE_S = float(os.environ.get("SNAPSWEEP_OUTAGE_S", "40"))
STEPS = 400
# Long enough to be stopped mid-training: the compiled updates of the tiny spec take ~10 ms each.
LONG_STEPS = 1000


def steady_port() -> int:
    """A free port below the kernel's ephemeral range: while the server is away for minutes, no
    outgoing connection of another process is handed its port."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(20000, min(low, 32768)), 200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port below the ephemeral range")


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> Path:
    """One storage root for the module's sweeps: its JAX compilation cache serves them all."""
    return tmp_path_factory.mktemp("outage-runs")


class Sweep:
    """One `snapsweep run` of a one-pack, four-member spec against `server`, in its own process;
    `spool`: where its trial keeps the pack's tracking journal (SNAPSWEEP_SPOOL)."""

    def __init__(self, tmp_path: Path, name: str, server, ray_address: str, storage: Path, spool: Path,
                 steps: int = STEPS):
        self.path = tmp_path / f"{name}.yaml"
        self.path.write_text(tiny_spec_text(name, methods=("snap1",), steps=steps), encoding="utf-8")
        self.steps = steps
        self.name, self.server, self.tmp, self.spool = name, server, tmp_path, spool
        self.storage = storage
        self.command = [sys.executable, "-m", "snapsweep", "run", str(self.path), "--storage", str(self.storage),
                        "--tracking-uri", server.uri, "--address", ray_address]
        sweep_spec = spec.load(self.path)
        (pack,) = work.build(sweep_spec, work.sweep_paths(sweep_spec, str(self.storage)), set()).packs
        self.pack_dir = self.storage / name / "packs" / pack.id
        self.log = tmp_path / "run.log"
        self.proc = None

    def start(self, *extra: str) -> None:
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(self.command + list(extra), cwd=self.tmp, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, condition, what: str, timeout_s: float = 240) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"never saw {what} (exit {self.proc.poll()}):\n{self.output()}")

    def queued(self, kind: str) -> bool:
        """Whether the pack's journal holds an operation of `kind` (track.journal) not applied yet:
        what the trial does while the server is away."""
        for journal in self.spool.glob(f"*/{self.pack_dir.name}/journal.jsonl"):
            if f'"op": "{kind}"' in journal.read_text():
                return True
        return False

    def checkpoints(self) -> list[int]:
        return PackStore(str(self.pack_dir)).steps() if self.pack_dir.is_dir() else []

    def finish(self) -> tuple[int, str]:
        try:
            code = self.proc.wait(timeout=240 + 2 * OUTAGE_S)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        return code, self.output()

    def parent_ready(self) -> bool:
        """The parent run exists with its spec artifacts: the driver is done with MLflow until the
        pack ends."""
        try:
            client = MlflowClient(tracking_uri=self.server.uri)
            exp = client.get_experiment_by_name(self.name)
            if exp is None:
                return False
            (parent,) = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'sweep'") or [None]
            return parent is not None and {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
                "spec.yaml", "specs"}
        except Exception:  # noqa: BLE001 - the server is still starting
            return False


def check_outcome(sweep: Sweep, code: int, out: str) -> dict:
    """Everything the sweep should have left in MLflow, checked; returns the figures."""
    assert code == 0, out
    assert "Traceback" not in out, out
    assert "4/4 trials finished (4 run now)" in out, out
    client = MlflowClient(tracking_uri=sweep.server.uri)
    exp = client.get_experiment_by_name(sweep.name)
    members = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'member'")
    parents = client.search_runs([exp.experiment_id], f"tags.`{T.KIND}` = 'sweep'")
    assert len(members) == 4 and len({m.data.tags[T.TRIAL_ID] for m in members}) == 4  # no duplicates
    assert [p.info.status for p in parents] == ["FINISHED"]
    doubled = lost = 0
    expected = list(range(10, sweep.steps + 1, 10))  # log_every 10
    for member in members:
        run_id = member.info.run_id
        assert member.info.status == "FINISHED"
        assert member.data.tags[T.PARENT] == parents[0].info.run_id
        assert member.data.tags[T.FINAL_PREFIX + "step"] == str(sweep.steps) and T.NODE in member.data.tags
        assert member.data.params["lr"] == member.data.tags[T.LR]
        assert {a.path for a in client.list_artifacts(run_id, "final_state")} == {"final_state/state.ckpt"}
        assert [a.path for a in client.list_artifacts(run_id, "plots")]
        for key in member.data.metrics:
            steps = [m.step for m in client.get_metric_history(run_id, key)]
            doubled += len(steps) - len(set(steps))
        for key in ("train_loss_bits", "status"):
            steps = sorted(m.step for m in client.get_metric_history(run_id, key))
            lost += len(set(expected) - set(steps))
            assert steps == expected, (key, steps)
    assert doubled == 0
    return {"runs": len(members), "duplicates": len(members) - 4, "lost": lost, "doubled": doubled,
            "running": sum(m.info.status == "RUNNING" for m in [*members, *parents])}


def test_down_at_the_start_before_the_parent_run_and_during_run_creation(mlflow_server_factory, ray_local, tmp_path, storage,
                                                    tracking_spool):
    server = mlflow_server_factory(steady_port())
    server.stop()
    sweep = Sweep(tmp_path, "outage-start", server, ray_local, storage, tracking_spool)
    started = time.monotonic()
    sweep.start("--wait-for-tracking", "120")
    sweep.wait_for(lambda: "waiting for it, " in sweep.output(), "the countdown line")
    server.start()
    # The driver reached the server and planned; it goes away again before the driver has made the
    # parent run (Ray's start lies between): the driver waits again, with its countdown.
    sweep.wait_for(lambda: f"sweep {sweep.name}: " in sweep.output(), "the plan line")
    server.stop()
    waits = sweep.output().count("waiting for it, ")
    sweep.wait_for(lambda: sweep.output().count("waiting for it, ") > waits, "the driver's second countdown")
    back_at = time.time()
    server.start()
    # The parent run is made; the pack's trial is still starting: it opens its runs in the outage.
    sweep.wait_for(sweep.parent_ready, "the parent run")
    server.stop()
    stopped = time.monotonic()
    # The trial has started and queued the opening of its four runs instead of failing.
    sweep.wait_for(lambda: sweep.queued("open"), "the runs' opening queued", timeout_s=OUTAGE_S)
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
    server.start()
    code, out = sweep.finish()
    figures = check_outcome(sweep, code, out)
    client = MlflowClient(tracking_uri=server.uri)
    (parent,) = client.search_runs([client.get_experiment_by_name(sweep.name).experiment_id],
                                   f"tags.`{T.KIND}` = 'sweep'")
    assert parent.info.start_time >= back_at * 1000  # made by the driver after its outage, not before
    print(f"outage at run creation: {figures}, wall {time.monotonic() - started:.0f} s")


def test_down_from_mid_training_across_the_pack_end(mlflow_server_factory, ray_local, tmp_path, storage,
                                                    tracking_spool):
    server = mlflow_server_factory(steady_port())
    sweep = Sweep(tmp_path, "outage-end", server, ray_local, storage, tracking_spool, steps=LONG_STEPS)
    started = time.monotonic()
    sweep.start()
    sweep.wait_for(lambda: sweep.checkpoints(), "the first checkpoint")
    server.stop()
    stopped = time.monotonic()
    at_stop = sweep.checkpoints()[-1]
    # Training goes on to the end of the schedule and the pack waits for the server there.
    sweep.wait_for(lambda: sweep.queued("finish"), "the pack's end queued", timeout_s=OUTAGE_S)
    assert sweep.checkpoints()[-1] == LONG_STEPS > at_stop
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
    server.start()
    code, out = sweep.finish()
    assert not list(tracking_spool.glob(f"*/{sweep.pack_dir.name}"))  # the journal is gone once applied
    figures = check_outcome(sweep, code, out)
    print(f"outage mid-training and at the end: {figures}, wall {time.monotonic() - started:.0f} s")
