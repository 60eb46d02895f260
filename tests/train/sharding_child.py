"""Run in a fresh process by test_train_sharding.py, with XLA_FLAGS giving the CPU four devices
(the flag must be set before JAX is imported): every case trains on one device and on four, saves
halfway and at the end, and resumes each halfway checkpoint on the other device count.

    python sharding_child.py OUT_DIR

Writes OUT_DIR/results.json (metric records, summaries, where each leaf's shards live) and one
.npz of the final real-member state per run.
"""

import dataclasses
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import train_settings as ts  # noqa: E402
from snapsweep.train import Trainer  # noqa: E402

DEVICES = 4


def float64(config):
    return dataclasses.replace(config, model=dataclasses.replace(config.model, dtype="float64"))


def copy_case():
    """Online SnAp-1 (traces in the carry) on the copy task; six members padded to eight. Member 2
    diverges: its learning rate is held in float32, where 1e300 is infinite."""
    cfg = ts.copy_config(method="snap", mode="online", hidden=8, steps=20, log_every=10)
    return float64(cfg), ts.members((0, 1e-3), (1, 3e-3), (2, 1e300), (3, 1e-2), (4, 2e-3), (5, 5e-3))


def lm_case():
    """Offline BPTT on the character LM, evaluated and probed; four members, one per device."""
    task = ts.text_task(crop=8, batch=4, valid_chars=256, valid_batch=2)
    cfg = ts.text_config(method="bptt", mode="offline", hidden=8, steps=10, log_every=5, eval_every=5,
                         probe_every=5, task=task)
    return float64(cfg), ts.members((0, 1e-3), (1, 3e-3), (2, 1e-2), (3, 3e-2))


CASES = {"copy": copy_case, "lm": lm_case}


def leaves(state) -> dict:
    return {jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_flatten_with_path(state)[0]}


def shards(tree) -> list:
    """Per leaf: the devices of its addressable shards and each shard's shape."""
    return [{"devices": [s.device.id for s in x.addressable_shards],
             "shapes": [list(s.data.shape) for s in x.addressable_shards], "shape": list(x.shape)}
            for x in jax.tree.leaves(tree)]


def main(out: str) -> None:
    results = {"local_devices": len(jax.local_devices())}
    for name, case in CASES.items():
        config, members = case()
        half = config.schedule.steps // 2
        trainers = {d: Trainer(config, members, devices=d) for d in (1, DEVICES)}
        for d, trainer in trainers.items():
            records = []
            state = trainer.advance(trainer.init(), half, on_metrics=records.append)
            trainer.save(os.path.join(out, f"{name}-{d}-half.ckpt"), state, {"devices": d})
            state = trainer.advance(state, config.schedule.steps - half, on_metrics=records.append)
            np.savez(os.path.join(out, f"{name}-{d}.npz"), **leaves(trainer.placement.real(state)))
            results[f"{name}-{d}"] = {"records": records, "summary": trainer.summary(state),
                                      "padded": trainer.placement.padded, "state": shards(state),
                                      "data": shards(trainer.data)}
        for d, trainer in trainers.items():
            other = DEVICES if d == 1 else 1
            state, meta = trainer.load(os.path.join(out, f"{name}-{other}-half.ckpt"))
            assert meta["devices"] == other
            state = trainer.advance(state, config.schedule.steps - half)
            np.savez(os.path.join(out, f"{name}-{d}-from-{other}.npz"), **leaves(trainer.placement.real(state)))
            results[f"{name}-{d}-from-{other}"] = {"summary": trainer.summary(state), "state": shards(state)}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
