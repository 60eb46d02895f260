"""Byte-level character language modelling: random training crops, fixed validation streams.

Training: every window is B random crops of `crop + 1` bytes, x = bytes[:-1], y = bytes[1:], so a
window scores exactly `crop` characters per element; state and traces reset at the start of each
crop (crops are unrelated places in the text). Offline mode uses one crop per update. Online mode
walks through the crop one character per update and draws new crops when it reaches the end.

The training bytes are shared by all pack members and passed to the jitted program as an argument
(never baked in as a constant, never copied per member); each member only keeps its RNG key, its
current crops and its position in them (`TextState`), so the data position is resumable.

Validation: a fixed leading slice of the validation split that scores exactly `valid_chars`
characters (or every character after the first), cut into `valid_batch` contiguous streams that
are read window by window with the recurrent state carried across windows; deterministic.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from snapsweep.errors import DataError
from snapsweep.rtrl import Window
from snapsweep.tasks.info import BYTE_VOCAB, task_info
from snapsweep.tasks.sources import TextData

if TYPE_CHECKING:
    from snapsweep.tasks.config import TextTaskConfig

VOCAB = BYTE_VOCAB


class TextState(NamedTuple):
    key: jax.Array  # data RNG
    crops: jax.Array  # [B, crop + 1] uint8: the crops an online member is walking through
    pos: jax.Array  # int32 position in them; == crop means "draw new crops"


class TextTask:
    vocab_in = VOCAB
    vocab_out = VOCAB

    def __init__(self, config: "TextTaskConfig", data: TextData):
        self.config = config
        self.info = task_info(config)
        self.batch = config.batch
        self.crop = config.crop
        self.offline_steps = self.info.offline_steps
        self.origin = data.origin
        if len(data.train) < config.crop + 1:
            raise DataError(f"the training text has {len(data.train)} bytes, fewer than crop + 1 = {config.crop + 1}",
                            where=f"task.crop ({data.origin})", fix="use a smaller crop or more text")
        if len(data.valid) < 2:
            raise DataError(f"the validation text has {len(data.valid)} bytes", where=f"task ({data.origin})",
                            fix="provide a validation file or raise holdout_fraction")
        self.train_bytes = data.train
        self.valid = validation_windows(data.valid, config.valid_chars, config.valid_batch, config.crop)

    @cached_property
    def unigram_bits(self) -> float:
        """The training text's unigram entropy (a baseline for valid_bpc): a pass over every byte,
        so computed when first asked, then kept."""
        return unigram_entropy_bits(self.train_bytes)

    # Equal and hashed by settings: the trainer's compiled programs take the task as a static
    # argument, so trainers with equal settings share compilations.
    def __eq__(self, other):
        return type(other) is type(self) and other.config == self.config

    def __hash__(self):
        return hash((type(self).__name__, self.config))

    def shared_data(self):
        # A device array, passed to the jitted step as an argument shared by every member.
        return {"train": jnp.asarray(self.train_bytes)}

    def init(self, key) -> TextState:
        return TextState(
            key=key,
            crops=jnp.zeros((self.batch, self.crop + 1), jnp.uint8),
            pos=jnp.asarray(self.crop, jnp.int32),
        )

    def _draw(self, key, train):
        """B random crops [B, crop + 1] (uint8)."""
        n = train.shape[0]
        starts = jax.random.randint(key, (self.batch,), 0, n - self.crop, jnp.int32)
        return jax.vmap(lambda s: jax.lax.dynamic_slice(train, (s,), (self.crop + 1,)))(starts)

    def _window(self, crops) -> Window:
        c = crops.astype(jnp.int32)
        shape = (self.crop, self.batch)
        return Window(x=c[:, :-1].T, y=c[:, 1:].T, weight=jnp.ones(shape, jnp.float32),
                      reset=jnp.broadcast_to(jnp.arange(self.crop)[:, None] == 0, shape))

    def offline_window(self, ts: TextState, data):
        key, k_draw = jax.random.split(ts.key)
        return ts._replace(key=key), self._window(self._draw(k_draw, data["train"]))

    def online_window(self, ts: TextState, data):
        key, k_draw = jax.random.split(ts.key)
        done = ts.pos >= self.crop
        crops = jnp.where(done, self._draw(k_draw, data["train"]), ts.crops)
        pos = jnp.where(done, 0, ts.pos)
        c = jax.lax.dynamic_slice_in_dim(crops, pos, 2, axis=1).astype(jnp.int32)  # [B, 2]
        window = Window(x=c[None, :, 0], y=c[None, :, 1], weight=jnp.ones((1, self.batch), jnp.float32),
                        reset=jnp.broadcast_to(pos == 0, (1, self.batch)))
        return TextState(key=key, crops=crops, pos=pos + 1), window

    def probe_window(self, ts: TextState, data, key) -> Window:
        return self._window(self._draw(key, data["train"]))

    def observe(self, ts: TextState, loss_bits, steps) -> TextState:
        return ts  # no curriculum

    def metrics(self, ts: TextState) -> dict:
        return {}


def validation_windows(valid: np.ndarray, valid_chars: int | None, streams: int, crop: int) -> Window:
    """Numpy windows [n_windows, crop, streams] that score a fixed leading slice exactly once.

    Stream b predicts characters b*per+1 .. b*per+per of the slice (its input is the character
    before each), so the streams tile the slice; the tail of the last windows has weight 0.
    """
    available = len(valid) - 1  # the first character is context only
    scored = available if valid_chars is None else valid_chars
    if scored < 1 or scored > available:
        raise DataError(f"valid_chars = {valid_chars} but the validation text scores at most {available}",
                        where="task.valid_chars", fix=f"use a value in 1..{available}, or null for all of it")
    if streams < 1:
        raise DataError(f"valid_batch must be >= 1, got {streams}", where="task.valid_batch", fix="use e.g. 16")
    per = math.ceil(scored / streams)
    n_windows = math.ceil(per / crop)
    steps = n_windows * crop
    text = valid[: scored + 1].astype(np.int32)
    x = np.zeros((streams, steps), np.int32)
    y = np.zeros((streams, steps), np.int32)
    w = np.zeros((streams, steps), np.float32)
    for b in range(streams):
        lo, hi = b * per, min((b + 1) * per, scored)
        n = max(0, hi - lo)
        x[b, :n], y[b, :n], w[b, :n] = text[lo:lo + n], text[lo + 1:lo + 1 + n], 1.0

    def windows(a):  # [streams, steps] -> [n_windows, crop, streams]
        return np.ascontiguousarray(a.reshape(streams, n_windows, crop).transpose(1, 2, 0))

    reset = np.zeros((n_windows, crop, streams), bool)
    reset[0, 0, :] = True
    return Window(x=windows(x), y=windows(y), weight=windows(w), reset=reset)


def unigram_entropy_bits(text: np.ndarray) -> float:
    """Entropy of the byte frequencies: the bpc of the best model that ignores context."""
    counts = np.bincount(text, minlength=VOCAB).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())
