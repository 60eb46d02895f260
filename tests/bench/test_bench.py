"""The benchmark API at a toy size: it times the trainer's own program on the spec's default model."""

import dataclasses

import jax
import pytest

from snapsweep import bench
from snapsweep.bench import workload
from snapsweep.errors import ConfigError
from snapsweep.rtrl.config import ModelConfig
from snapsweep.rtrl.costs import TRACE_BUDGET_BYTES
from snapsweep.rtrl.registry import parse
from snapsweep.tasks.config import CopyTaskConfig
from snapsweep.train.config import ScheduleConfig, TrainConfig


def test_defaults_are_the_specs():
    from snapsweep.spec.models import Model, Optim

    assert workload.MODEL_DEFAULTS == Model().model_dump()
    assert workload.OPTIM_DEFAULTS == Optim().model_dump()
    model = workload.model_config("gru", 8, 1.0)
    assert {f.name: getattr(model, f.name) for f in dataclasses.fields(ModelConfig)
            if f.name in workload.MODEL_DEFAULTS} == {**workload.MODEL_DEFAULTS, "hidden": 8}


def test_bench_rows_and_table():
    rows = bench.bench("gru", [8], batch=2, length=4, methods=["snap1-online", "bptt-offline"], repeats=1,
                       lengths_for_memory=(4,))
    speed = [r for r in rows if r["kind"] == "throughput"]
    assert [r["method"] for r in speed] == ["bptt-offline", "snap1-online"]  # BPTT first: the ratio's base
    for r in speed:
        assert r["tokens_per_s"] > 0 and r["device"] and r["compiled_bytes"] > 0
        assert r["ratio_to_bptt"] is not None
        assert r["predicted_tokens_per_s"] > 0 and r["bandwidth"] > 0 and r["flop_rate"] > 0
        assert (r["bandwidth_floor_fraction"] is None) == (r["trace_bytes"] == 0)
        assert r["trace_bytes"] == bench.run.sized_program("gru", 8, 2, 4, parse(r["method"]), 1.0) \
            .make_method().cost(2).trace_bytes
    assert speed[0]["ratio_to_bptt"] == 1.0 and speed[0]["trace_bytes"] == 0 and speed[1]["trace_bytes"] > 0
    memory = [r for r in rows if r["kind"] == "memory"]
    assert {(r["method"], r["length"]) for r in memory} == {(m, 4) for m in bench.run.FLATNESS_METHODS}
    table = bench.format_table(rows)
    assert "snap1-online" in table and "| memory: method" in table


def test_bench_skips_over_budget_and_refuses_unknown():
    rows = bench.bench("gru", [2048], batch=2, length=2, methods=["rtrl-offline"], repeats=1, lengths_for_memory=None)
    assert rows[0]["skipped"] and rows[0]["tokens_per_s"] is None
    assert "skipped" in bench.format_table(rows)
    for name in ("kfrtrl", "appendix-d", "bptt-online"):
        with pytest.raises(ConfigError):
            bench.bench("gru", [8], batch=2, length=2, methods=[name])


def test_bench_pack_from_sizes_needs_no_data():
    lines = []
    (row,) = bench.bench_pack(pack_sizes=[2], hiddens=[8], batch=2, length=8, methods=["bptt-offline"], repeats=1,
                              progress=lines.append)
    assert (row["method"], row["units"], row["length"], row["pack"], row["steps"]) == ("bptt-offline", 8, 8, 2, 4)
    assert row["tokens_per_s"] > 0 and row["speedup"] is None and len(lines) == 1
    (skipped,) = bench.bench_pack(hiddens=[2048], methods=["rtrl-offline"])
    assert "MiB of traces" in skipped["skipped"]
    with pytest.raises(ConfigError, match="pack sizes"):
        bench.bench_pack(pack_sizes=[0])
    with pytest.raises(ConfigError):
        bench.bench_pack(methods=["appendix-d"])


def test_bench_pack_of_a_config_reports_aggregate_throughput():
    model = ModelConfig(cell="gru", hidden=8, vocab_in=4, vocab_out=4, density=1.0, size_rule="fixed",
                        shared_masks=True, mask_inputs=True, input_kind="onehot", embed_dim=0, dtype="float32")
    task = CopyTaskConfig(kind="copy", batch=2, length_spread=1, start_level=1, threshold_bits=0.15, ema_decay=0.999,
                          ema_reset=0.3, max_level=4)
    config = TrainConfig(task=task, model=model, method=parse("snap1-online"), optim=workload.optim_config(),
                         schedule=ScheduleConfig(steps=1, log_every=1, eval_every=0, probe_every=0, checkpoint_every=0),
                         trace_budget_bytes=TRACE_BUDGET_BYTES)
    rows = bench.bench_pack(config, pack_sizes=[1, 3], steps=5, repeats=1)
    assert [r["pack"] for r in rows] == [1, 3]
    assert rows[0]["speedup"] == pytest.approx(1.0)
    for r in rows:
        assert r["kind"] == "pack" and r["method"] == "snap1-online" and r["units"] == 8 and r["length"] is None
        assert r["tokens_per_s"] > 0 and r["tokens_per_s_per_member"] == pytest.approx(r["tokens_per_s"] / r["pack"])
        assert r["seconds"] > 0 and r["trace_bytes"] == 3 * 8 * (8 + 4 + 1) * 2 * 4  # C·p numbers x B x 4 bytes
        assert r["steps"] == 5 and jax.devices()[0].platform in r["device"]
