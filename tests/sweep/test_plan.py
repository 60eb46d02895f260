"""`plan`'s static price: rates from a file bench wrote (or said to be guesses), device-hours, wall
time on N devices, and packs flagged as too slow for the priced device."""

import json

import pytest

from snapsweep.errors import ConfigError
from snapsweep.rtrl import costs


def test_plan_prices_with_saved_rates_or_says_it_guesses(tmp_path, write_spec, monkeypatch):
    from snapsweep import sweep
    from snapsweep.sweep.planning import RATES_FILE, SLOW_PACK_HOURS

    monkeypatch.chdir(tmp_path)
    spec = write_spec("p")
    guessed = sweep.plan(spec, storage=str(tmp_path / "runs"))
    assert "rates are guesses for a CPU" in guessed.table() and "device-hours" in guessed.table()
    assert guessed.devices == 1 and guessed.wall_seconds == pytest.approx(guessed.total_seconds)
    assert guessed.device_hours == pytest.approx(guessed.total_seconds / 3600)
    assert not any(p.too_slow for p in guessed.packs)

    # A device a million times slower than the guess: same plan, flagged packs, a stated source.
    slow = costs.GUESSED_RATES["cpu"]._replace(device="slowpoke", measured_at="2026-01-01T00:00:00+00:00",
                                               bandwidth=1e3, op_seconds=1e3,
                                               product_rates=((8, 1e3), (512, 1e4)))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / RATES_FILE).write_text(json.dumps(slow.to_json()))
    priced = sweep.plan(spec, storage=str(tmp_path / "runs"), devices=2)
    text = priced.table()
    assert "rates measured on slowpoke at 2026-01-01T00:00:00+00:00" in text
    assert all(p.too_slow and p.seconds > SLOW_PACK_HOURS * 3600 for p in priced.packs)
    assert f"more than {SLOW_PACK_HOURS:g} h" in text and "wall time on 2 devices" in text
    longest = max(p.seconds for p in priced.packs)
    assert longest <= priced.wall_seconds < priced.total_seconds  # two packs side by side
    assert priced.to_json()["device_hours"] == pytest.approx(priced.device_hours)

    other = tmp_path / "rates.json"
    other.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read device rates"):
        sweep.plan(spec, rates_file=str(other))
    with pytest.raises(ConfigError, match="devices"):
        sweep.plan(spec, devices=0)
