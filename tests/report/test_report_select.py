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
        tags[T.FINAL_PREFIX + "diverged"] = str(bool(diverged))
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


class HistoryTracker(FakeTracker):
    """Runs with metric histories: {run_id: {key: [(step, value)]}}."""

    def __init__(self, runs, histories):
        super().__init__(runs)
        self.histories = histories

    def metric_history(self, run_id, key):
        return self.histories.get(run_id, {}).get(key, [])


def test_seeds_on_different_token_grids_are_interpolated_before_the_mean():
    # Seed a logs every 10 updates at 100 tokens per update, seed b every 15 at 80: the same steps
    # are different token counts, and the mean must be taken at equal tokens.
    a = {"valid_bpc": [(10, 3.0), (20, 2.0), (30, 1.0)], "tokens": [(10, 1000.0), (20, 2000.0), (30, 3000.0)]}
    b = {"valid_bpc": [(15, 4.0), (30, 2.0)], "tokens": [(15, 1200.0), (30, 2400.0)]}
    runs = [run("a", 0.001, 0, 1.0), run("b", 0.001, 1, 2.0)]
    rep = report.build(HistoryTracker(runs, {"a": a, "b": b}), "e", "s")
    curve = rep.curves["valid_bpc"][(ROW, ("gru", 1.0))]
    # The common grid: every seed's token counts inside the range both cover, 1200 .. 2400.
    assert curve.x == (1200.0, 2000.0, 2400.0)
    at_a = [3.0 - 0.2, 2.0, 2.0 - 0.4]  # seed a linearly between its points
    at_b = [4.0, 4.0 - 2.0 * 800 / 1200, 2.0]
    # float64, to the last bits of the interpolation's own rounding
    assert curve.mean == pytest.approx([(x + y) / 2 for x, y in zip(at_a, at_b)], rel=1e-15, abs=0)
    assert curve.std == pytest.approx([abs(x - y) / 2**0.5 for x, y in zip(at_a, at_b)], rel=1e-15, abs=0)
    assert curve.n_seeds == 2


def test_levels_are_held_and_one_seed_says_n1():
    a = {"curriculum_level": [(10, 2.0), (20, 5.0)], "tokens": [(10, 100.0), (20, 200.0)]}
    b = {"curriculum_level": [(10, 3.0), (30, 4.0)], "tokens": [(10, 150.0), (30, 450.0)]}
    runs = [run("a", 0.001, 0, 5.0), run("b", 0.001, 1, 4.0)]
    for r in runs:
        r.tags[T.METRIC] = "curriculum_level"
        r.metrics["curriculum_level"] = r.metrics.pop("valid_bpc")
    rep = report.build(HistoryTracker(runs, {"a": a, "b": b}), "e", "s")
    curve = rep.curves["curriculum_level"][(ROW, ("gru", 1.0))]
    assert curve.x == (150.0, 200.0)
    assert curve.mean == ((2.0 + 3.0) / 2, (5.0 + 3.0) / 2)  # a level held until it changes, never 3.5
    single = build([run("a", 0.001, 0, 1.25)])
    assert single.text(ROW, ("gru", 1.0)) == "1.250 (n=1)"


def test_methods_differ_in_colour_line_style_and_marker():
    from snapsweep.report.plots import method_styles

    styles = method_styles([f"m{i}" for i in range(4)])
    for part in ("color", "linestyle", "marker"):
        assert len({s[part] for s in styles.values()}) == 4


def test_byte_sizes_need_no_exponent():
    from snapsweep.report.table import format_bytes

    assert [format_bytes(n) for n in (0, 999, 1010 * 1024, 54 * 2**20, 3 * 2**30)] == [
        "0 B", "999 B", "0.986 MiB", "54 MiB", "3 GiB"]
