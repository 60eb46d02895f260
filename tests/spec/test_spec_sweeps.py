"""Every shipped sweep spec loads, expands to the grid it promises, and packs as expected."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from snapsweep import spec
from snapsweep.tasks.config import CopyTaskConfig, TextTaskConfig

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"

# name -> (trials, packs, members per pack)
EXPECTED = {
    "wikitext103": (2 * 5 * 3 * 4 * 3, 2 * 5 * 3, 12),
    "copy": (4 * 2 * 3, 4 * 2, 3),
    "online-vs-bptt": (3 * 2 * 3, 3 * 2, 3),
    "smoke": (4 * 2 * 2, 4, 4),
}


def test_every_sweep_file_is_covered():
    assert sorted(p.stem for p in SWEEPS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sweep_loads_and_expands(name):
    sweep = spec.load(SWEEPS / f"{name}.yaml")
    assert sweep.name == name
    trials = spec.expand(sweep)
    n_trials, n_packs, members = EXPECTED[name]
    assert len(trials) == n_trials
    assert len({t.id for t in trials}) == n_trials
    packs = spec.packs(trials, sweep.packing.limit)
    assert len(packs) == n_packs
    assert {len(p.trials) for p in packs} == {members}
    assert sorted(t.id for p in packs for t in p.trials) == sorted(t.id for t in trials)


CPU = SWEEPS / "cpu"
# CPU-scale sweep -> the full-scale sweep whose protocol it keeps (docs/reproduce.md)
SIBLINGS = {"wikitext": "wikitext103", "copy": "copy", "online-vs-bptt": "online-vs-bptt"}


def test_every_cpu_scale_sweep_has_a_full_scale_sibling():
    assert sorted(p.stem for p in CPU.glob("*.yaml")) == sorted(SIBLINGS)


@pytest.mark.parametrize("name", sorted(SIBLINGS))
def test_a_cpu_scale_sweep_keeps_its_siblings_protocol(name):
    small = spec.expand(spec.load(CPU / f"{name}.yaml"))
    full = spec.expand(spec.load(SWEEPS / f"{SIBLINGS[name]}.yaml"))

    def methods(trials):  # the gradient each computes: offline SnAp-1's two forms are one gradient
        return {(t.config.method.family, t.config.method.n, t.config.method.mode) for t in trials}

    assert methods(small) == methods(full)
    assert {t.axes["density"] for t in small} <= {t.axes["density"] for t in full}
    assert min(t.axes["density"] for t in small) < 1 or min(t.axes["density"] for t in full) == 1
    a, b = small[0].config, full[0].config
    assert type(a.task) is type(b.task) and a.task.batch == b.task.batch
    protocol = (("length_spread", "start_level", "threshold_bits", "ema_decay", "ema_reset")
                if isinstance(a.task, CopyTaskConfig) else ("crop",))
    assert all(getattr(a.task, f) == getattr(b.task, f) for f in protocol)
    assert (a.optim.name, a.optim.clip_norm) == (b.optim.name, b.optim.clip_norm)
    assert {t.config.model.cell for t in small} <= {t.config.model.cell for t in full}


def test_wikitext103_grid():
    sweep = spec.load(SWEEPS / "wikitext103.yaml")
    trials = spec.expand(sweep)
    assert {t.axes["cell"] for t in trials} == {"gru", "lstm"}
    assert {t.axes["method"] for t in trials} == {"bptt-offline", "snap1-offline", "snap2-offline", "snap3-offline", "uoro-offline"}
    assert {t.axes["mode"] for t in trials} == {"offline"}
    assert {t.axes["seed"] for t in trials} == {0, 1, 2}
    # The paper's grid {10^-2.5, 10^-3, 10^-3.5, 10^-4}, exactly.
    assert sorted({t.axes["lr"] for t in trials}) == sorted(10.0 ** e for e in (-2.5, -3, -3.5, -4))
    task = trials[0].config.task
    assert isinstance(task, TextTaskConfig)
    assert (task.source, task.hub_path, task.hub_name, task.crop, task.batch) == (
        "hub", "Salesforce/wikitext", "wikitext-103-raw-v1", 128, 16)
    assert trials[0].config.model.vocab_in == trials[0].config.model.vocab_out == 256
    # tokens -> steps: 16 x 128 characters per offline update.
    assert {t.config.schedule.steps for t in trials} == {math.ceil(102_400_000 / (16 * 128))}
    opt = trials[0].config.optim
    assert (opt.name, opt.b1, opt.b2, opt.eps) == ("adam", 0.9, 0.999, 1e-8)


def test_copy_grid():
    trials = spec.expand(spec.load(SWEEPS / "copy.yaml"))
    assert {t.axes["method"] for t in trials} == {"snap1-online", "snap2-online", "rtrl-online", "uoro-online"}
    assert {t.axes["mode"] for t in trials} == {"online"}
    c = trials[0].config
    assert isinstance(c.task, CopyTaskConfig) and c.model.vocab_in == c.model.vocab_out == 4
    assert c.optim.clip_norm == 100 and c.optim.name == "adam" and c.model.cell == "gru"


def test_online_vs_bptt_grid():
    trials = spec.expand(spec.load(SWEEPS / "online-vs-bptt.yaml"))
    methods = {(t.axes["method"], t.axes["mode"]) for t in trials}
    assert methods == {("snap2-online", "online"), ("rtrl-online", "online"), ("bptt-offline", "offline")}
    assert {t.axes["density"] for t in trials} <= {d for d in (0.25, 0.0625)}  # sparse nets only


def test_smoke_is_small():
    sweep = spec.load(SWEEPS / "smoke.yaml")
    trials = spec.expand(sweep)
    assert {t.axes["method"] for t in trials} == {"bptt-offline", "snap1-online", "snap2-online", "uoro-online"}
    assert all(t.config.schedule.steps <= 500 and t.config.model.units <= 16 for t in trials)
    assert sweep.resources.gpu == 0 and sweep.resources.tpu == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_resolved_yaml_round_trips(name):
    sweep = spec.load(SWEEPS / f"{name}.yaml")
    text = spec.resolved_yaml(sweep)
    again = spec.load_text(text, "<resolved>")
    assert spec.spec_hash(again) == spec.spec_hash(sweep)
    assert [t.id for t in spec.expand(again)] == [t.id for t in spec.expand(sweep)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sweep_is_a_train_config(name):
    """A sweep spec's fixed sections are a valid `snapsweep train --config`."""
    sweep = spec.load(SWEEPS / f"{name}.yaml")
    config, member = spec.trial_from_options({}, str(SWEEPS / f"{name}.yaml"))
    assert member.seed == sweep.seed and member.lr == sweep.optim.lr
    assert config.method.family == sweep.method.name
