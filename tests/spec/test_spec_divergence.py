"""schedule.divergence_factor: resolved into TrainConfig (default 10, null off), refused when it
could never mean "far above the trivial loss"."""

from __future__ import annotations

import pytest

from snapsweep import spec
from snapsweep.errors import SpecError

BASE = "task: {kind: copy, batch: 4}\nmodel: {hidden: 8}\nschedule: {steps: 10%s}\n"


def _config(tmp_path, extra: str = ""):
    path = tmp_path / "t.yaml"
    path.write_text(BASE % extra)
    config, _ = spec.trial_from_options({}, str(path))
    return config


def test_default_factor_is_ten_and_null_switches_it_off(tmp_path):
    assert _config(tmp_path).divergence_factor == 10.0
    assert _config(tmp_path, ", divergence_factor: 3").divergence_factor == 3.0
    assert _config(tmp_path, ", divergence_factor: null").divergence_factor is None


@pytest.mark.parametrize("value", ["1", "0.5", "true", ".inf", "'ten'"])
def test_a_factor_that_cannot_work_is_refused(tmp_path, value):
    with pytest.raises(SpecError) as info:
        _config(tmp_path, f", divergence_factor: {value}")
    assert "divergence_factor" in str(info.value)

