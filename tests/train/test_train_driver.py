"""The pack driver: the order it calls its ports in, resume through a CheckpointPort, failures
through the RunPort, and members' final states that a one-member trainer loads."""

import dataclasses

import jax
import numpy as np
import pytest

import train_settings as ts
from snapsweep.train import Trainer, drive


class Recorder:
    """All three ports at once, keeping one checkpoint file and a log of every call."""

    def __init__(self, path, resume=False, fail_at=None):
        self.path, self.resume, self.fail_at = str(path), resume, fail_at
        self.calls = []
        self.metas = []
        self.finished = None

    def latest(self):
        return self.path if self.resume else None

    def save(self, step, meta, write_state):
        if step == self.fail_at:
            raise RuntimeError(f"disk full at {step}")
        write_state(self.path)
        self.metas.append(meta)
        self.calls.append(("save", step))

    def emit(self, records):
        self.calls.append(("emit", records[0]["step"]))

    def flush(self):
        self.calls.append(("flush",))

    def start(self, resumed):
        self.calls.append(("start", resumed))
        return ["run-a"]

    def running(self, step):
        self.calls.append(("running", step))

    def finish(self, step, summary, write_member):
        self.calls.append(("finish", step))
        self.finished = (summary, write_member)

    def fail(self, error):
        self.calls.append(("fail", str(error)))


@pytest.fixture(scope="module")
def trainer():
    cfg, members = ts.lm_case()
    cfg = dataclasses.replace(cfg, schedule=ts.schedule(20, log_every=5, eval_every=10, checkpoint_every=10))
    return Trainer(cfg, members)


def test_ports_are_called_in_order_and_resume_continues(trainer, tmp_path):
    ports = Recorder(tmp_path / "state.ckpt")
    summary = drive(trainer, checkpoints=ports, metrics=ports, runs=ports, meta={"who": "test"})
    assert ports.calls == [("start", False), ("running", 0), ("emit", 5), ("emit", 10), ("flush",), ("save", 10),
                           ("emit", 15), ("emit", 20), ("flush",), ("save", 20), ("finish", 20)]
    assert ports.metas[-1] == {"who": "test", "run_ids": ["run-a"], "step": 20}
    assert summary == ports.finished[0] and summary[0]["steps"] == 20

    longer = Trainer(dataclasses.replace(trainer.config, schedule=ts.schedule(30, log_every=5, eval_every=10,
                                                                              checkpoint_every=10)),
                     trainer.members)
    again = Recorder(tmp_path / "state.ckpt", resume=True)
    (row,) = drive(longer, checkpoints=again, metrics=again, runs=again)
    assert again.calls == [("start", True), ("running", 20), ("emit", 25), ("emit", 30), ("flush",), ("save", 30),
                           ("finish", 30)]
    assert again.metas[-1] == {"who": "test", "run_ids": ["run-a"], "step": 30}  # the saved meta is kept
    assert row["steps"] == 30


def test_a_failure_reaches_the_run_port_and_is_raised(trainer, tmp_path):
    ports = Recorder(tmp_path / "state.ckpt", fail_at=10)
    with pytest.raises(RuntimeError, match="disk full"):
        drive(trainer, checkpoints=ports, metrics=ports, runs=ports)
    assert ports.calls[-2:] == [("flush",), ("fail", "disk full at 10")]


def test_member_final_state_loads_into_a_one_member_trainer(tmp_path):
    cfg, members = ts.copy_pack_case(steps=100)
    pack = Trainer(cfg, members)
    ports = Recorder(tmp_path / "pack.ckpt")
    drive(pack, checkpoints=ports, metrics=ports, runs=ports)
    summary, write_member = ports.finished
    write_member(1, str(tmp_path / "one.ckpt"), {"trial": "t1"})
    state, _ = pack.load(str(tmp_path / "pack.ckpt"))
    one, meta = Trainer(cfg, members[1:2]).load(str(tmp_path / "one.ckpt"))
    assert meta == {"trial": "t1"}
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(jax.tree.map(lambda x: x[1:2], state))):
        assert _bytes(a) == _bytes(b)


def _bytes(leaf) -> bytes:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf).tobytes()
