"""Multi-device packs: `Trainer(..., devices=4)` shards the member axis over four devices and
equals the one-device pack member for member; checkpoints resume across device counts.

The runs happen in one child process (sharding_child.py) whose CPU has four devices: XLA's
--xla_force_host_platform_device_count must be set before JAX is imported, so this process
cannot. They run in float64: XLA:CPU compiles a vmapped operation differently for different
member counts per device (even on one device a pack of two differs from two packs of one in the
last bits of float32), so the oracle is agreement to rounding (rtol 1e-9 after every update),
with every integer (status, diverged_at, steps, tokens, curriculum level, data positions) exact.
Reported metrics are float32 (the state's progress accumulators, the probe's and evaluation's
results), so they agree to float32 rounding.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import train_settings as ts
from snapsweep.errors import ConfigError
from snapsweep.train import Trainer

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharding_child.py")
DEVICES = 4
RTOL, ATOL = 1e-9, 1e-12
METRIC_RTOL = 1e-6  # a few float32 ulps


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    if not os.path.isdir(ts.WIKITEXT_DIR):
        pytest.skip(f"no local WikiText at {ts.WIKITEXT_DIR}")
    where = tmp_path_factory.mktemp("sharding")
    # Unoptimised XLA code compiles in half the time; both device counts get the same code.
    flags = f"--xla_force_host_platform_device_count={DEVICES} --xla_backend_optimization_level=0"
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, CHILD, str(where)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    with open(where / "results.json") as f:
        return where, json.load(f)


def states_equal(a: str, b: str) -> None:
    with np.load(a) as x, np.load(b) as y:
        assert sorted(x.files) == sorted(y.files)
        for name in x.files:
            if np.issubdtype(x[name].dtype, np.floating):
                np.testing.assert_allclose(x[name], y[name], rtol=RTOL, atol=ATOL, err_msg=name)
            else:
                np.testing.assert_array_equal(x[name], y[name], err_msg=name)


def rows_equal(got: list, want: list) -> None:
    """Summaries or metric records: same keys, integers equal, floats to float32 rounding."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for key in g:
            if key == "metrics":
                rows_equal([{k: v for k, v in g[key].items() if k != "tokens_per_s"}],
                           [{k: v for k, v in w[key].items() if k != "tokens_per_s"}])
            elif isinstance(w[key], float):
                assert g[key] == pytest.approx(w[key], rel=METRIC_RTOL, nan_ok=True), key
            else:
                assert g[key] == w[key], key


@pytest.mark.parametrize("case,members", [("copy", 6), ("lm", 4)])
def test_a_four_device_pack_equals_the_one_device_pack(out, case, members):
    where, results = out
    one, four = results[f"{case}-1"], results[f"{case}-{DEVICES}"]
    states_equal(where / f"{case}-1.npz", where / f"{case}-{DEVICES}.npz")
    assert len(four["summary"]) == members and [r["member"] for r in four["summary"]] == list(range(members))
    rows_equal(four["summary"], one["summary"])
    assert len(four["records"]) == len(one["records"]) > 0
    for got, want in zip(four["records"], one["records"]):
        rows_equal(got, want)
    if case == "copy":  # the diverging member diverges at the same update, on whichever device
        assert [r["status"] for r in four["summary"]].count("diverged") == 1
    else:  # evaluation and the probe ran sharded too
        assert {"valid_bpc", "grad_cosine", "grad_norm_ratio"} <= set(four["records"][-1][0]["metrics"])


@pytest.mark.parametrize("case,padded", [("copy", 8), ("lm", 4)])
def test_each_device_holds_its_share(out, case, padded):
    _, results = out
    assert results["local_devices"] == DEVICES
    four, one = results[f"{case}-{DEVICES}"], results[f"{case}-1"]
    assert four["padded"] == padded and one["padded"] == len(one["summary"])  # six members: two copies added
    for leaf in four["state"]:
        assert sorted(leaf["devices"]) == list(range(DEVICES))
        assert leaf["shape"][0] == padded
        assert all(s == [padded // DEVICES, *leaf["shape"][1:]] for s in leaf["shapes"])
    for leaf in four["data"]:  # shared data: a whole copy on every device
        assert sorted(leaf["devices"]) == list(range(DEVICES)) and all(s == leaf["shape"] for s in leaf["shapes"])
    for leaf in one["state"]:  # devices=1: the single-device path, nothing sharded
        assert len(leaf["devices"]) == 1 and leaf["shapes"] == [leaf["shape"]]


@pytest.mark.parametrize("case", ["copy", "lm"])
def test_a_checkpoint_resumes_on_another_device_count(out, case):
    where, results = out
    for d, other in ((1, DEVICES), (DEVICES, 1)):
        states_equal(where / f"{case}-{d}-from-{other}.npz", where / f"{case}-{d}.npz")
        rows_equal(results[f"{case}-{d}-from-{other}"]["summary"], results[f"{case}-{d}"]["summary"])
        assert results[f"{case}-{d}-from-{other}"]["state"] == results[f"{case}-{d}"]["state"]  # same placement


def test_asking_for_more_devices_than_visible_is_a_config_error():
    config, members = ts.copy_pack_case(steps=10)
    with pytest.raises(ConfigError, match="devices=64, but this process sees"):
        Trainer(config, members, devices=64)
    for bad in (0, 2.0, True):
        with pytest.raises(ConfigError, match="devices must be an integer"):
            Trainer(config, members, devices=bad)
