"""The outage buffer on its own: batching, outages, the spill file, rejected batches."""

from __future__ import annotations

import json

import pytest

from snapsweep.track.buffer import MetricBuffer, Point, Unreachable


def points(run_id: str, n: int, start: int = 0) -> list[Point]:
    return [Point(run_id, "loss", float(i), i, 1000 + i) for i in range(start, start + n)]


class Server:
    """A fake `send`: records batches, or raises while `down`."""

    def __init__(self):
        self.down = False
        self.batches: list[tuple[str, list[Point]]] = []
        self.reject: set[str] = set()

    def __call__(self, run_id, batch):
        if self.down:
            raise Unreachable("connection refused")
        if run_id in self.reject:
            raise ValueError(f"no run {run_id}")
        self.batches.append((run_id, list(batch)))

    def received(self, run_id=None) -> list[Point]:
        return [p for r, b in self.batches for p in b if run_id in (None, r)]


def test_one_batch_per_run_and_at_most_batch_size_points():
    server = Server()
    buf = MetricBuffer(batch_size=1000)
    buf.add(points("a", 2500) + points("b", 10))
    assert buf.flush(server) == 0
    sizes = [(r, len(b)) for r, b in server.batches]
    assert sizes == [("a", 1000), ("a", 1000), ("a", 500), ("b", 10)]
    assert [p.step for p in server.received("a")] == list(range(2500))


def test_outage_keeps_points_in_order_and_waits_before_retrying():
    now = [0.0]
    server = Server()
    buf = MetricBuffer(retry_interval_s=10, clock=lambda: now[0])
    server.down = True
    buf.add(points("a", 5))
    assert buf.flush(server) == 5 and buf.in_outage()
    server.down = False
    buf.add(points("a", 5, start=5))
    assert buf.flush(server) == 10  # within the retry interval: not even tried
    assert not server.batches
    now[0] = 11.0
    assert buf.flush(server) == 0
    assert [p.step for p in server.received()] == list(range(10))
    assert not buf.in_outage()


def test_force_flush_ignores_the_retry_interval():
    server = Server()
    buf = MetricBuffer(retry_interval_s=1e9)
    server.down = True
    buf.add(points("a", 3))
    buf.flush(server)
    server.down = False
    assert buf.flush(server, force=True) == 0
    assert len(server.received()) == 3


def test_memory_limit_without_spill_file_drops_oldest():
    server = Server()
    buf = MetricBuffer(limit=100)
    server.down = True
    buf.add(points("a", 150))
    assert buf.pending() == 100 and buf.dropped == 50
    server.down = False
    buf.flush(server, force=True)
    assert [p.step for p in server.received()] == list(range(50, 150))


def test_spill_file_survives_the_process_and_is_sent_oldest_first(tmp_path):
    spill = tmp_path / "ckpt" / "metrics.jsonl"
    server = Server()
    server.down = True
    first = MetricBuffer(limit=50, spill_path=spill)
    first.add(points("a", 80))  # 30 over the limit spill at once
    assert spill.exists() and len(spill.read_text().splitlines()) == 30
    assert first.flush(server) == 80  # the failed flush makes every pending point durable
    assert len(spill.read_text().splitlines()) == 80
    del first  # the trial crashed

    second = MetricBuffer(spill_path=spill)
    assert second.pending() == 80
    second.add(points("a", 5, start=80))
    server.down = False
    assert second.flush(server) == 0
    assert [p.step for p in server.received()] == list(range(85))
    assert not spill.exists()


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path):
    spill = tmp_path / "m.jsonl"
    good = {"run_id": "a", "key": "loss", "value": 1.0, "step": 3, "timestamp": 5}
    spill.write_text(json.dumps(good) + "\n" + '{"run_id": "a", "key": "lo')
    server = Server()
    buf = MetricBuffer(spill_path=spill)
    assert buf.flush(server) == 0
    assert server.received() == [Point(**good)]


def test_rejected_batch_is_dropped_and_reported_after_sending_the_rest():
    server = Server()
    server.reject = {"gone"}
    buf = MetricBuffer()
    buf.add(points("gone", 3) + points("b", 4))
    with pytest.raises(ValueError, match="no run gone"):
        buf.flush(server)
    assert buf.pending() == 0
    assert len(server.received("b")) == 4
