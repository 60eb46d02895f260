"""Trial ids hash what a trial computes: stable across runs, axis order and unrelated spec fields."""

from __future__ import annotations

import subprocess
import sys

import pytest

from snapsweep import spec
from snapsweep.rtrl import registry

BASE = """
name: ids
task: {kind: copy, batch: 4, max_level: 8}
model: {hidden: 8}
method: {mode: online}
schedule: {steps: 20}
axes:
  methods: [snap1, snap2, uoro]
  densities: [1.0, 0.5]
  lrs: [1.0e-3, 3.0e-3]
  seeds: [0, 1]
"""


def ids(text: str) -> dict[str, str]:
    return {t.label: t.id for t in spec.expand(spec.load_text(text))}


def test_ids_are_short_hex_and_unique():
    trials = spec.expand(spec.load_text(BASE))
    assert len(trials) == 3 * 2 * 2 * 2
    assert all(len(t.id) == 12 and int(t.id, 16) >= 0 for t in trials)
    assert len({t.id for t in trials}) == len(trials)


def test_ids_are_stable_across_processes():
    """No dependence on hash randomisation or anything else per process."""
    code = ("import sys; from snapsweep import spec; "
            "print(' '.join(t.id for t in spec.expand(spec.load_text(sys.stdin.read()))))")
    runs = [subprocess.run([sys.executable, "-c", code], input=BASE, capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"}).stdout
            for seed in (1, 2)]
    assert runs[0] == runs[1]
    assert runs[0].split() == [t.id for t in spec.expand(spec.load_text(BASE))]


def test_axis_order_does_not_change_ids():
    reordered = BASE.replace("[snap1, snap2, uoro]", "[uoro, snap1, snap2]") \
                    .replace("[1.0, 0.5]", "[0.5, 1.0]").replace("[1.0e-3, 3.0e-3]", "[3.0e-3, 1.0e-3]") \
                    .replace("[0, 1]", "[1, 0]")
    assert reordered != BASE
    assert ids(reordered) == ids(BASE)


def test_unrelated_fields_do_not_change_ids():
    other = BASE.replace("name: ids", "name: renamed\ndescription: words\n"
                         "resources: {cpu: 2, gpu: 0.5}\npacking: {max_members: 2}\n"
                         "tracking: {uri: 'http://x:5000', experiment: e}\nstorage: {path: /tmp/x}\n"
                         "retries: {max_failures: 5}")
    assert ids(other) == ids(BASE)
    # ...but the spec hash sees them.
    assert spec.spec_hash(spec.load_text(other)) != spec.spec_hash(spec.load_text(BASE))


def test_equivalent_spellings_give_the_same_ids():
    spelled = BASE.replace("[snap1, snap2, uoro]",
                           "[{name: snap, n: 1}, snap2-online, {name: uoro, mode: online}]") \
                  .replace("[1.0e-3, 3.0e-3]", "['10^-3', 0.003]")
    assert ids(spelled) == ids(BASE)


def test_adding_a_seed_keeps_old_ids():
    old = ids(BASE)
    new = ids(BASE.replace("seeds: [0, 1]", "seeds: [0, 1, 2]"))
    assert len(new) == len(old) * 3 // 2
    assert set(old.items()) <= set(new.items())


def test_a_fixed_value_and_a_one_value_axis_give_the_same_ids():
    fixed = BASE.replace("  seeds: [0, 1]\n", "").replace("schedule:", "seed: 1\nschedule:")
    single = BASE.replace("seeds: [0, 1]", "seeds: [1]")
    assert ids(fixed) == ids(single)


def test_settings_change_ids():
    assert set(ids(BASE.replace("steps: 20", "steps: 21")).values()).isdisjoint(ids(BASE).values())


def test_n_is_ignored_for_methods_without_an_order():
    """method.n is inherited only by snap: uoro's id must not depend on it."""
    with_n = BASE.replace("method: {mode: online}", "method: {name: snap, n: 3, mode: online}")
    uoro = {k: v for k, v in ids(BASE).items() if "uoro" in k}
    assert uoro and uoro.items() <= ids(with_n).items()


def test_packs_group_by_config_and_chunk():
    trials = spec.expand(spec.load_text(BASE))
    packs = spec.packs(trials, 12)
    assert len(packs) == 3 * 2  # methods x densities; lr x seed inside
    for pack in packs:
        assert len(pack.trials) == 4
        assert {t.config for t in pack.trials} == {pack.config}
        assert {(m.lr, m.seed) for m in pack.members} == {(1e-3, 0), (1e-3, 1), (3e-3, 0), (3e-3, 1)}
        assert len({t.pack_key for t in pack.trials}) == 1
    chunked = spec.packs(trials, 3)
    assert sorted(len(p.trials) for p in chunked) == [1] * 6 + [3] * 6
    assert [len(p.trials) for p in spec.packs(trials, 1)] == [1] * len(trials)
    # Pack ids hash the member ids: the same trials give the same packs whatever their order.
    assert [p.id for p in spec.packs(list(reversed(trials)), 12)] != [] and \
        {p.id for p in spec.packs(list(reversed(trials)), 12)} == {p.id for p in packs}


def test_packing_disabled_gives_one_trial_per_pack():
    sweep = spec.load_text(BASE + "packing: {enabled: false}\n")
    assert sweep.packing.limit == 1
    assert all(len(p.trials) == 1 for p in spec.packs(spec.expand(sweep), sweep.packing.limit))


def test_packs_refuse_a_bad_limit():
    from snapsweep.errors import ConfigError

    with pytest.raises(ConfigError):
        spec.packs(spec.expand(spec.load_text(BASE)), 0)


def test_trial_fields():
    t = spec.expand(spec.load_text(BASE))[0]
    assert t.axes == {"method": "snap1-online", "mode": "online", "cell": "gru", "density": 1.0, "hidden": 8,
                      "units": 8, "lr": 1e-3, "seed": 0}
    assert t.label == "gru-h8-d1-snap1-online-lr0.001-s0"
    assert t.config.method == registry.parse("snap1-online")
    with pytest.raises(Exception):
        t.id = "x"  # frozen
