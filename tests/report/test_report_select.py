"""Report rules on hand-made run records (no server): divergence, ties, superseded and odd runs,
and the import boundary of track/report."""

from __future__ import annotations

import subprocess
import sys

import pytest

from snapsweep import report
from snapsweep.errors import ConfigError, TrackingError
from snapsweep.track import tags as T
from snapsweep.track.records import RunRecord

MAX = sys.float_info.max  # how MLflow stores an infinite value


class FakeTracker:
    uri = "fake://"

    def __init__(self, runs):
        self.runs = runs

    def member_runs(self, experiment, sweep_name):
        return self.runs

    def metric_history(self, run_id, key):
        return []


def run(run_id, lr, seed, value, *, method="uoro-online", status="FINISHED", diverged=None, start=0, task="wikitext"):
    tags = {T.METHOD: method, T.MODE: "online", T.CELL: "gru", T.DENSITY: "1.0", T.LR: str(lr),
            T.SEED: str(seed), T.TRIAL_ID: run_id}
    if task:
        tags[T.TASK] = task
        tags[T.METRIC] = "valid_bpc"
    metrics = {"valid_bpc": value}
    if diverged is not None:
        metrics["final.diverged"] = float(diverged)
    return RunRecord(run_id, run_id, "p", status, tags, {}, metrics, start_time=start)


ROW = "UORO (online)"  # registry.parse("uoro-online").label


def build(runs, **kw):
    return report.build(FakeTracker(runs), "e", "s", **kw)


def test_every_run_diverged_shows_diverged():
    rep = build([run("a", 1e-3, 0, float("nan")), run("b", 1e-2, 0, MAX), run("c", 1e-2, 1, 2.0, diverged=True)])
    col = ("gru", 1.0)
    cell = rep.cell(ROW, col)
    assert cell.chosen is None and cell.diverged_total == 3
    assert rep.text(ROW, col) == "diverged" and rep.lr_text(ROW, col) == "all diverged (3)"


def test_fewest_diverged_then_best_mean_then_smaller_lr():
    runs = [run("a", 1e-3, 0, 3.0), run("b", 1e-3, 1, float("nan")),
            run("c", 1e-2, 0, 4.0), run("d", 1e-2, 1, float("nan")), run("e", 1e-2, 2, float("nan"))]
    cell = build(runs).cell(ROW, ("gru", 1.0))
    assert cell.lr == 1e-3 and cell.mean == 3.0 and cell.std == 0.0 and cell.diverged == 1
    tie = [run("a", 1e-2, 0, 2.0), run("b", 1e-3, 0, 2.0)]
    assert build(tie).cell(ROW, ("gru", 1.0)).lr == 1e-3


def test_newer_run_at_the_same_coordinates_wins_and_odd_runs_are_counted():
    runs = [run("old", 1e-3, 0, 9.0, start=1), run("new", 1e-3, 0, 1.0, start=2),
            RunRecord("x", "x", "p", "FINISHED", {T.TASK: "wikitext"}, {}, {"valid_bpc": 1.0}),
            run("k", 1e-3, 1, 1.0, status="KILLED"), run("f", 1e-3, 2, 1.0, status="FAILED"),
            run("d", 1e-3, 3, 1.0, status="FAILED", diverged=True)]
    rep = build(runs)
    cell = rep.cell(ROW, ("gru", 1.0))
    assert cell.mean == 1.0 and cell.n_seeds == 1 and cell.diverged == 1  # the diverged FAILED run counts
    assert rep.skipped == {"superseded by a newer run with the same coordinates": 1,
                           "without method/cell/density/lr/seed tags": 1, "killed (not finished)": 1,
                           "failed (not finished)": 1}
    assert "Runs left out:" in rep.markdown


def test_explicit_metric_and_goal_and_the_errors():
    runs = [run("a", 1e-3, 0, 1.0, task=None), run("b", 1e-2, 0, 2.0, task=None)]
    assert build(runs, metric="valid_bpc").task is None  # nothing to say which task it was
    assert build(runs, metric="valid_bpc", goal="max").cell(ROW, ("gru", 1.0)).lr == 1e-2
    with pytest.raises(TrackingError, match="no member runs"):
        build([])
    with pytest.raises(ConfigError, match="cannot tell the headline metric"):
        build(runs)


def test_track_and_report_do_not_import_ray():
    code = "import sys, snapsweep.track, snapsweep.report; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
