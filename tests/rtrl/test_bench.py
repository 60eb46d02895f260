"""The benchmark API at a toy size: row fields, skips instead of crashes, table rendering."""

import pytest

from snapsweep import bench
from snapsweep.errors import ConfigError


def test_bench_rows_and_table():
    rows = bench.bench("gru", [8], batch=2, length=4, methods=["snap1-online", "bptt"], repeats=1,
                       lengths_for_memory=(4,))
    speed = [r for r in rows if r["kind"] == "throughput"]
    assert [r["method"] for r in speed] == ["bptt", "snap1-online"]  # BPTT first: the ratio's base
    for r in speed:
        assert r["tokens_per_s"] > 0 and r["device"]
        assert r["ratio_to_bptt"] is not None
        assert r["bandwidth_floor_fraction"] is None  # CPU: no bandwidth floor
    assert speed[0]["ratio_to_bptt"] == 1.0
    memory = [r for r in rows if r["kind"] == "memory"]
    assert {(r["method"], r["length"]) for r in memory} == {(m, t) for m in bench.run.FLATNESS_METHODS for t in (4,)}
    table = bench.format_table(rows)
    assert "snap1-online" in table and "| memory: method" in table


def test_bench_skips_over_budget_and_refuses_unknown():
    rows = bench.bench("gru", [2048], batch=2, length=2, methods=["rtrl"], repeats=1, lengths_for_memory=None)
    assert rows[0]["skipped"] and rows[0]["tokens_per_s"] is None
    assert "skipped" in bench.format_table(rows)
    with pytest.raises(ConfigError):
        bench.bench("gru", [8], batch=2, length=2, methods=["kfrtrl"])
