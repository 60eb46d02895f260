"""Explicit, complete TrainConfig builders for the trainer tests (the spec layer does this in
production; here every field is spelled out so a test reads as its settings)."""

from __future__ import annotations

import os

from snapsweep import rtrl
from snapsweep.rtrl.costs import TRACE_BUDGET_BYTES
from snapsweep.rtrl.registry import make_id
from snapsweep.train.config import (
    CopyTaskConfig,
    Member,
    OptimConfig,
    ScheduleConfig,
    TextTaskConfig,
    TrainConfig,
)

# <repo>/../shared/data/wikitext/wiki.valid.raw, located from this file (CI has it there too).
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WIKITEXT_DIR = os.path.join(os.path.dirname(REPO), "shared", "data", "wikitext")
WIKITEXT_VALID = os.path.join(WIKITEXT_DIR, "wiki.valid.raw")


def model(vocab: int, hidden: int = 32, cell: str = "gru", density: float = 1.0) -> rtrl.ModelConfig:
    return rtrl.ModelConfig(cell=cell, hidden=hidden, vocab_in=vocab, vocab_out=vocab, density=density,
                            size_rule="fixed", shared_masks=True, mask_inputs=False, input_kind="onehot",
                            embed_dim=0, dtype="float32")


def schedule(steps: int, log_every: int = 100, eval_every: int = 0, probe_every: int = 0,
             checkpoint_every: int = 0) -> ScheduleConfig:
    return ScheduleConfig(steps=steps, log_every=log_every, eval_every=eval_every, probe_every=probe_every,
                          checkpoint_every=checkpoint_every)


def optim(clip_norm=100.0) -> OptimConfig:
    return OptimConfig(name="adam", b1=0.9, b2=0.999, eps=1e-8, clip_norm=clip_norm)


def copy_task(batch: int = 16, max_level: int = 32, start_level: int = 1) -> CopyTaskConfig:
    return CopyTaskConfig(kind="copy", batch=batch, length_spread=4, start_level=start_level, threshold_bits=0.15,
                          ema_decay=0.999, ema_reset=0.3, max_level=max_level)


def text_task(data_dir: str = WIKITEXT_DIR, crop: int = 32, batch: int = 16, valid_chars=4096,
              valid_batch: int = 8, holdout_fraction: float = 0.1) -> TextTaskConfig:
    return TextTaskConfig(kind="wikitext", source="local", data_dir=data_dir, hub_path="Salesforce/wikitext",
                          hub_name="wikitext-103-raw-v1", crop=crop, batch=batch, holdout_fraction=holdout_fraction,
                          valid_chars=valid_chars, valid_batch=valid_batch)


def copy_config(method: str = "snap", mode: str = "online", n: int = 1, hidden: int = 32, steps: int = 1000,
                cell: str = "gru", density: float = 1.0, form: str | None = None, **sched) -> TrainConfig:
    """`method`: a registry family (bptt, rtrl, snap, uoro, snap-numeric), with its order n and mode."""
    return TrainConfig(task=copy_task(), model=model(4, hidden, cell, density),
                       method=make_id(method, n, mode, form), optim=optim(),
                       schedule=schedule(steps, **sched), trace_budget_bytes=TRACE_BUDGET_BYTES)


def text_config(method: str = "bptt", mode: str = "offline", n: int = 1, hidden: int = 32, steps: int = 100,
                task: TextTaskConfig | None = None, cell: str = "gru", form: str | None = None,
                **sched) -> TrainConfig:
    return TrainConfig(task=task or text_task(), model=model(256, hidden, cell),
                       method=make_id(method, n, mode, form), optim=optim(clip_norm=1.0),
                       schedule=schedule(steps, **sched), trace_budget_bytes=TRACE_BUDGET_BYTES)


def members(*pairs) -> list:
    return [Member(seed=s, lr=lr) for s, lr in pairs]


# Shared cases: trainers with equal settings (schedules aside) share compiled programs, so the
# resume and pack tests use the same ones. Member 2's learning rate blows it up (divergence).
PACK = [(0, 1e-3), (1, 3e-3), (2, 1e38), (3, 1e-2)]
PACK_HUGE = 2


def copy_pack_case(steps: int = 400):
    """Copy task, online SnAp-1, a pack of four with one diverging member."""
    return copy_config(method="snap", mode="online", hidden=16, steps=steps, log_every=50), members(*PACK)


def lm_case(steps: int = 40):
    """Character LM, offline BPTT, one member, evaluated every 10 updates."""
    cfg = text_config(method="bptt", mode="offline", hidden=32, steps=steps, log_every=5, eval_every=10,
                      task=text_task(crop=32, batch=8, valid_chars=2048, valid_batch=4))
    return cfg, members((3, 3e-3))


CASES = {"copy": copy_pack_case, "lm": lm_case}
