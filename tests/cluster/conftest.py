"""`smoke`: scripts/cluster-smoke loaded as a module (its steps are the cluster tests' steps), and
`cluster`: one compose cluster shared by the tests of test_compose_cluster.py (bringing it up
takes minutes), torn down with its engine after the last of them, before the rest of the suite
runs (module scope: without packages, pytest's package scope lasts the whole session)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def smoke():
    name = "snapsweep_cluster_smoke"
    if name not in sys.modules:
        loader = importlib.machinery.SourceFileLoader(name, str(ROOT / "scripts" / "cluster-smoke"))
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
        sys.modules[name] = module  # dataclasses look their module up while the file executes
        loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def cluster(smoke):
    try:
        engine = smoke.prepare()
    except smoke.Unavailable as err:
        pytest.skip(f"no Docker engine can be used here: {err}")
    try:
        try:
            running = smoke.up(engine)
        except smoke.CheckFailed as err:
            pytest.fail(str(err), pytrace=False)
        try:
            yield running
        finally:
            smoke.down(running)
    finally:
        engine.stop()
