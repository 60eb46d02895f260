"""The character LM on generated text: a deterministic pattern a small GRU learns almost exactly."""

import dataclasses

import train_settings as ts
from snapsweep.train import Trainer


def test_bptt_learns_a_generated_pattern(tmp_path):
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    (tmp_path / "generated.txt").write_bytes(line * 400)
    cfg, members = ts.lm_case()
    cfg = dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, data_dir=str(tmp_path)),
                              schedule=ts.schedule(300, log_every=100, eval_every=300))
    trainer = Trainer(cfg, members)
    assert trainer.task.unigram_bits > 4.5
    (row,) = trainer.summary(trainer.advance(trainer.init(), 300))
    print(f"generated text: valid bpc {row['valid_bpc']:.3f} (unigram {trainer.task.unigram_bits:.3f})")
    assert row["valid_bpc"] < 1.0
