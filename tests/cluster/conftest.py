"""`smoke`: scripts/cluster-smoke loaded as a module (its steps are the cluster test's steps)."""

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
