"""The trainer learns: the copy curriculum climbs, and the LM beats the unigram entropy.

Reference: a 32-unit GRU with online SnAp-1 (Adam 3e-3, clip 100, batch 16) reaches
L = 8 after 20,000 steps in about 25 s on a 2-core CPU. Far below that means a bug.
"""

import time

import train_settings as ts
from snapsweep.train import Trainer


def test_copy_task_online_snap1_climbs_past_level_5():
    cfg = ts.copy_config(method="snap", mode="online", hidden=32, steps=20000, log_every=1000)
    trainer = Trainer(cfg, ts.members((0, 3e-3)))
    state = trainer.init()
    levels = []
    start = time.monotonic()
    while int(state.clock[0]) < 20000 and (not levels or levels[-1] <= 5):
        state = trainer.advance(state, 1000, on_metrics=lambda r: levels.append(int(r[0]["metrics"]["curriculum_level"])))
    seconds = time.monotonic() - start
    (row,) = trainer.summary(state)
    print(f"copy: L={row['curriculum_level']} after {row['steps']} steps, {row['tokens']} tokens, {seconds:.1f} s")
    assert row["status"] in ("running", "finished") and row["curriculum_level"] > 5
    assert levels == sorted(levels)  # the curriculum only rises


def test_lm_bptt_beats_the_unigram_entropy():
    cfg = ts.text_config(method="bptt", mode="offline", hidden=64, steps=400, log_every=100, eval_every=200,
                         task=ts.text_task(crop=64, batch=16, valid_chars=16384, valid_batch=16))
    trainer = Trainer(cfg, ts.members((0, 3e-3)))
    unigram = trainer.task.unigram_bits  # from the training bytes
    bpcs = []
    start = time.monotonic()
    state = trainer.advance(trainer.init(), 400,
                            on_metrics=lambda r: "valid_bpc" in r[0]["metrics"] and bpcs.append(r[0]["metrics"]["valid_bpc"]))
    seconds = time.monotonic() - start
    (row,) = trainer.summary(state)
    print(f"lm: valid bpc {row['valid_bpc']:.3f} vs unigram {unigram:.3f} after {row['steps']} steps, {seconds:.1f} s")
    assert len(bpcs) == 2 and bpcs[1] < bpcs[0]
    assert row["valid_bpc"] == bpcs[-1]
    assert row["valid_bpc"] < unigram - 0.75
