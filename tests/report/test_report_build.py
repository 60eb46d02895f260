"""Reports rebuilt from synthetic MLflow runs with known final metrics.

LM sweep: 2 methods x 2 cells x 2 densities x 2 lrs x 3 seeds, one (method, cell, density) left
out, one seed diverged, one run still running. Copy sweep: tagged from a real spec's trials
(`track.trial_tags`), the task's metric is read from the tags and the higher curriculum level wins.
Rows carry the registry's labels.
"""

from __future__ import annotations

import csv
import io
import math
import uuid

import numpy as np
import pytest
from mlflow import MlflowClient

from snapsweep import report, spec
from snapsweep.report import MISSING
from snapsweep.rtrl import registry
from snapsweep.track import Tracker, trial_tags
from snapsweep.track import tags as T

pytestmark = pytest.mark.integration

METHODS = [("bptt", "offline"), ("snap2", "online")]
LABEL = {"bptt": "BPTT (offline)", "snap2": "SnAp-2 (online)"}  # MethodId.label of each
CELLS = ["gru", "lstm"]
DENSITIES = [1.0, 0.25]
LRS = [0.001, 0.0031622776601683794]
SEEDS = [0, 1, 2]
ABSENT = ("snap2", "lstm", 0.25)  # never run
DIVERGED = ("bptt", "gru", 1.0, LRS[1], 2)  # this seed blew up
STEPS = (100, 200, 300)
TOKENS_PER_STEP = 16 * 128


def final_bpc(method, cell, density, lr, seed):
    """Known final values. The better lr alternates between cells so a wrong choice shows."""
    base = {"bptt": 1.60, "snap2": 1.70}[method] + {"gru": 0.0, "lstm": 0.05}[cell] + (1 - density) * 0.2
    lr_effect = 0.03 if (lr == LRS[0]) == (cell == "gru") else 0.0  # gru prefers LRS[1], lstm LRS[0]
    return round(base + lr_effect + 0.01 * seed + 0.001 * (seed * seed), 6)


def grid():
    for method, mode in METHODS:
        for cell in CELLS:
            for density in DENSITIES:
                if (method, cell, density) == ABSENT:
                    continue
                for lr in LRS:
                    for seed in SEEDS:
                        yield method, mode, cell, density, lr, seed


@pytest.fixture(scope="module")
def lm_sweep(mlflow_server):
    tracker = Tracker(mlflow_server.uri)
    experiment, sweep = f"report-{uuid.uuid4().hex[:6]}", "lm-table"
    parent = tracker.sweep_run(experiment, sweep, "h1", "name: lm-table\n")
    for method, mode, cell, density, lr, seed in grid():
        trial = f"{method}-{cell}-{density}-{lr:.4g}-{seed}"
        tags = {T.METHOD: f"{method}-{mode}", T.MODE: mode, T.CELL: cell, T.DENSITY: str(density),
                T.LR: repr(lr), T.SEED: str(seed), T.TASK: "wikitext", T.METRIC: "valid_bpc"}
        run = tracker.member_run(parent, trial, {"lr": lr, "seed": seed}, tags, provenance_tags={})
        final = final_bpc(method, cell, density, lr, seed)
        curve = [final + 0.5 * (STEPS[-1] - s) / STEPS[-1] for s in STEPS]
        tracker.log_metrics(run, [("valid_bpc", v, s) for v, s in zip(curve, STEPS)]
                            + [("tokens", float(s * TOKENS_PER_STEP), s) for s in STEPS]
                            + [("tokens_per_s", 1000.0 * (s + seed), s) for s in STEPS]
                            + [("trace_bytes", 54.0 * 2**20, s) for s in STEPS])
        if (method, cell, density, lr, seed) == DIVERGED:
            # As the sweep ends a diverged member: FAILED, flagged, no final value (it was not
            # finite), and a last logged value that looks fine.
            tracker.finish(run, "FAILED", {"valid_bpc": None, "diverged": True, "status": "diverged"})
        else:
            tracker.finish(run, "FINISHED", {"valid_bpc": final, "diverged": False})
    # Still training: must not enter the table.
    running = tracker.member_run(parent, "running", {}, {T.METHOD: "bptt-offline", T.MODE: "offline",
                                 T.CELL: "gru", T.DENSITY: "1.0", T.LR: repr(LRS[0]), T.SEED: "9",
                                 T.TASK: "wikitext", T.METRIC: "valid_bpc"},
                                 provenance_tags={})
    tracker.log_metrics(running, [("valid_bpc", 0.1, 100)])
    return tracker, experiment, sweep, parent


def expected(method, cell, density):
    """(mean, std, lr, n_seeds) by the rule the report must apply."""
    by_lr = {}
    for lr in LRS:
        values = [final_bpc(method, cell, density, lr, s) for s in SEEDS
                  if (method, cell, density, lr, s) != DIVERGED]
        diverged = len(SEEDS) - len(values)
        by_lr[lr] = (diverged, float(np.mean(values)), float(np.std(values, ddof=1)), len(values))
    lr = min(by_lr, key=lambda k: (by_lr[k][0], by_lr[k][1]))
    _, mean, std, n = by_lr[lr]
    return mean, std, lr, n


def test_lm_table_cells_lr_choice_and_missing(lm_sweep):
    tracker, experiment, sweep, _ = lm_sweep
    rep = report.build(tracker, experiment, sweep)
    assert rep.task == "wikitext" and rep.metric.key == "valid_bpc" and rep.metric.goal == "min"
    assert rep.methods == ("BPTT (offline)", "SnAp-2 (online)")
    assert rep.methods == tuple(registry.parse(f"{m}-{mode}").label for m, mode in METHODS)
    assert rep.columns == (("gru", 1.0), ("gru", 0.25), ("lstm", 1.0), ("lstm", 0.25))
    for method, mode in METHODS:
        row = LABEL[method]
        for cell in CELLS:
            for density in DENSITIES:
                column = (cell, density)
                if (method, cell, density) == ABSENT:
                    assert rep.cell(row, column) is None
                    assert rep.text(row, column) == MISSING
                    continue
                mean, std, lr, n = expected(method, cell, density)
                got = rep.cell(row, column)
                assert got.mean == pytest.approx(mean, abs=1e-9)
                assert got.std == pytest.approx(std, abs=1e-9)
                assert got.lr == pytest.approx(lr) and got.n_seeds == n
                assert rep.text(row, column) == f"{mean:.3f} ± {std:.3f}"
    # The diverged seed sits at the lr that is otherwise better for gru: that lr must lose.
    cell = rep.cell("BPTT (offline)", ("gru", 1.0))
    assert cell.lr == pytest.approx(LRS[0]) and cell.diverged == 0 and cell.diverged_total == 1
    assert cell.by_lr[LRS[1]].diverged == 1 and len(cell.by_lr[LRS[1]].values) == 2
    assert rep.cell("BPTT (offline)", ("gru", 0.25)).lr == pytest.approx(LRS[1])
    assert rep.cell("BPTT (offline)", ("lstm", 1.0)).lr == pytest.approx(LRS[0])
    assert rep.skipped == {"running (not finished)": 1}  # the diverged FAILED run is counted, not skipped


def test_markdown_csv_and_plots(lm_sweep, tmp_path):
    tracker, experiment, sweep, _ = lm_sweep
    rep = report.build(tracker, experiment, sweep)
    md = rep.markdown
    lines = md.splitlines()
    header = "| method | gru d=1 | gru d=0.25 | lstm d=1 | lstm d=0.25 |"
    assert lines.count(header) == 3  # the values, the chosen learning rates, the cost
    row = next(line for line in lines if line.startswith("| SnAp-2 (online) |"))
    assert row.endswith(f"| {MISSING} |")
    mean, std, _, _ = expected("snap2", "gru", 1.0)
    assert f"{mean:.3f} ± {std:.3f}" in row
    assert "| BPTT (offline) | 0.001 (3 seeds, 1 diverged at other lrs) |" in md
    assert "bits per character" in md and "lower is better" in md

    rows = list(csv.DictReader(io.StringIO(rep.csv)))
    assert len(rows) == 8
    missing = [r for r in rows if r["shown"] == MISSING]
    assert [(r["method"], r["cell"], r["density"]) for r in missing] == [("SnAp-2 (online)", "lstm", "0.25")]
    first = rows[0]
    mean, std, lr, n = expected("bptt", "gru", 1.0)
    assert (first["method"], first["cell"], float(first["density"])) == ("BPTT (offline)", "gru", 1.0)
    assert float(first["mean"]) == pytest.approx(mean) and float(first["std"]) == pytest.approx(std)
    assert float(first["lr"]) == pytest.approx(lr) and int(first["n_seeds"]) == n
    assert int(first["diverged_all_lrs"]) == 1
    # Cost: the mean over the chosen seeds (0, 1, 2) of each run's last tokens_per_s.
    assert float(first["tokens_per_s"]) == 1000.0 * (300 + 1) and float(first["trace_bytes"]) == 54.0 * 2**20
    assert "| BPTT (offline) | 301,000 tok/s, 54 MiB |" in md

    # Curves: mean over the chosen seeds, against tokens.
    curve = rep.curves["valid_bpc"][("BPTT (offline)", ("gru", 1.0))]
    assert curve.x_label == "tokens" and curve.n_seeds == 3
    assert curve.x == tuple(float(s * TOKENS_PER_STEP) for s in STEPS)
    assert curve.mean[-1] == pytest.approx(mean)
    assert ("SnAp-2 (online)", ("lstm", 0.25)) not in rep.curves["valid_bpc"]

    paths = report.write(rep, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["curves_valid_bpc.png", "report.csv", "report.md"]
    for p in paths:
        assert p.stat().st_size > 0
    assert paths[-1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "report.md").read_text() == md


def test_report_logged_to_the_parent(lm_sweep, mlflow_server, tmp_path):
    tracker, experiment, sweep, parent = lm_sweep
    rep = report.build(tracker, experiment, sweep, curves=False)
    logged = report.log_to_parent(tracker, parent, rep)
    assert sorted(logged) == ["report/curves_valid_bpc.png", "report/report.csv", "report/report.md"]
    client = MlflowClient(tracking_uri=mlflow_server.uri)
    assert sorted(a.path for a in client.list_artifacts(parent, "report")) == sorted(logged)
    md = client.download_artifacts(parent, "report/report.md", str(tmp_path))
    assert open(md, encoding="utf-8").read() == rep.markdown


COPY_SPEC = """
name: copy
task: {kind: copy}
model: {hidden: 8}
method: snap1-online
schedule: {steps: 20}
axes: {lrs: [3.0e-3, 1.0e-3], seeds: [0, 1]}
"""


def test_copy_task_metric_comes_from_the_tags_and_higher_level_wins(mlflow_server):
    tracker = Tracker(mlflow_server.uri)
    experiment = f"copy-{uuid.uuid4().hex[:6]}"
    parent = tracker.sweep_run(experiment, "copy", "h", "task: copy\n")
    levels = {(3e-3, 0): 9, (3e-3, 1): 8, (1e-3, 0): 6, (1e-3, 1): 7}
    trials = spec.expand(spec.load_text(COPY_SPEC))
    assert {(t.member.lr, t.member.seed) for t in trials} == set(levels)
    for trial in trials:
        level = levels[(trial.member.lr, trial.member.seed)]
        run = tracker.member_run(parent, trial.id, {}, trial_tags(trial, "h"), provenance_tags={})
        tracker.log_metrics(run, [("curriculum_level", float(level - 1), 10), ("curriculum_level", float(level), 20)])
        tracker.finish(run)
    rep = report.build(tracker, experiment, "copy")
    assert rep.task == "copy" and rep.metric.key == "curriculum_level" and rep.metric.goal == "max"
    row = registry.parse("snap1-online").label
    assert rep.methods == (row,) == ("SnAp-1 (online)",) and rep.columns == (("gru", 1.0),)
    cell = rep.cell(row, ("gru", 1.0))
    assert cell.lr == pytest.approx(3e-3) and cell.mean == pytest.approx(8.5)
    assert cell.std == pytest.approx(math.sqrt(0.5))
    assert rep.text(row, ("gru", 1.0)) == "8.5 ± 0.7"
    curve = rep.curves["curriculum_level"][(row, ("gru", 1.0))]
    assert curve.x_label == "updates" and curve.mean == (7.5, 8.5)
