"""Fixtures of the sweep tests; the spec text lives in sweep_specs.py (importable from the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from sweep_specs import tiny_spec_text


@pytest.fixture
def write_spec(tmp_path) -> Callable[..., Path]:
    """write_spec(name, **tiny_spec_text options) -> path of a spec file in the test's tmp dir."""

    def write(name: str, **options) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(tiny_spec_text(name, **options), encoding="utf-8")
        return path

    return write
