"""The sweep's report: built by `snapsweep.report` from MLflow, written under the sweep's storage
(<root>/<name>/report/) and logged to the parent run.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional

from snapsweep import settings
from snapsweep.sweep import work
from snapsweep.sweep.storage import is_uri, publish_dir


def build_and_publish(tracker, workload: work.Workload, parent_run_id: Optional[str], out_dir: Optional[str] = None):
    """-> (Report, the directory it was written to, its files). `out_dir` overrides
    <storage>/<name>/report."""
    from snapsweep import report as report_mod

    built = report_mod.build(tracker, workload.experiment, workload.name)
    target = out_dir or workload.paths.report_dir
    if is_uri(target):
        with tempfile.TemporaryDirectory() as local:
            names = [p.name for p in report_mod.write(built, local)]
            publish_dir(local, target)
        files = [f"{target}/{name}" for name in names]
    else:
        os.makedirs(target, exist_ok=True)
        files = [str(p) for p in report_mod.write(built, target)]
    if parent_run_id is not None:
        report_mod.log_to_parent(tracker, parent_run_id, built)
    return built, target, files


def report(spec_path_or_spec, *, tracking_uri: Optional[str] = None, out_dir: Optional[str] = None,
           storage: Optional[str] = None, address: Optional[str] = None) -> list[str]:
    """Rebuild the report of a sweep from MLflow; returns the files written (`snapsweep report`).

    `address` (a Ray cluster) is checked for its shape only: a report needs no cluster."""
    from snapsweep.track import Tracker

    settings.ray_address(address)
    spec, path = work.load_spec(spec_path_or_spec)
    paths = work.sweep_paths(spec, storage)  # every setting checked before anything is created
    tracker = Tracker(work.tracking_uri_of(spec, tracking_uri))
    workload = work.Workload(spec=spec, spec_path=path, paths=paths, trials=[], all_packs=[], finished=None, packs=[])
    parent = tracker.find_sweep_run(workload.experiment, spec.name)
    return build_and_publish(tracker, workload, parent, out_dir)[2]
