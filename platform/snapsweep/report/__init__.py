"""The paper's tables and learning-curve plots, rebuilt from a sweep's MLflow runs.

    rep = report.build(tracker, experiment, sweep_name)     # metric from the task when None
    print(rep.markdown)
    report.write(rep, "reports/lm")                          # report.md, report.csv, curves_*.png
    report.log_to_parent(tracker, parent_run_id, rep)        # same files under report/ of the parent
    tracker.finish(run_id, plot=report.member_figure)        # a member run's learning curves
"""

from snapsweep.report.build import build, log_to_parent, write
from snapsweep.report.plots import member_figure
from snapsweep.report.select import Cell, LrResult
from snapsweep.report.table import MISSING, Curve, Report

__all__ = ["MISSING", "Cell", "Curve", "LrResult", "Report", "build", "log_to_parent", "member_figure", "write"]
