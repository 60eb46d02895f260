"""Copy task with a curriculum, generated on device inside the training scan.

Tokens: 0, 1 (the bits), START = 2, BLANK = 3. A sequence of T bits is 2T + 2 steps long:

    position p:   0      1 .. T        T+1      T+2 .. 2T+1
    input x:      START  b_1 .. b_T    BLANK    BLANK ...
    target y:     BLANK  BLANK ...     START    b_1 .. b_T

Every step is scored (weight 1): the blanks are part of the per-step loss the curriculum watches.
At level L a new sequence draws T uniformly from {max(1, L - length_spread), ..., L}.

Each batch element is its own stream of sequences; when one ends the next starts at once, with
`reset` set so state and traces go back to zero. Online mode consumes one step of every stream
per update; offline mode builds windows that hold exactly one fresh sequence per element (padded
with weight 0 to the longest possible sequence, 2 * max_level + 2 steps, so shapes stay static).

Everything lives in `CopyState` (a per-member pytree with an RNG key), so data generation is
resumable and vmaps over pack members.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp

from snapsweep.rtrl import Window
from snapsweep.tasks.info import COPY_VOCAB, copy_sequence_steps, task_info

if TYPE_CHECKING:
    from snapsweep.tasks.config import CopyTaskConfig

START = 2
BLANK = 3
VOCAB = COPY_VOCAB
_WORD = 32  # bits are stored packed in uint32 words so drawing a sequence costs B * words numbers


class CopyState(NamedTuple):
    key: jax.Array  # data RNG
    level: jax.Array  # int32 curriculum level L
    ema: jax.Array  # float32 EMA of the per-step loss in bits
    length: jax.Array  # [B] int32 bit count T of each stream's current sequence
    pos: jax.Array  # [B] int32 position inside it; pos >= copy_sequence_steps(T) means "draw a new one"
    bits: jax.Array  # [B, words] uint32 packed bits of the current sequences


class CopyTask:
    """Pure functions of a `CopyState`; the object only holds the (static) settings."""

    vocab_in = VOCAB
    vocab_out = VOCAB
    valid = None  # nothing held out: how far the curriculum got is the measure

    def __init__(self, config: "CopyTaskConfig"):
        self.config = config
        self.info = task_info(config)
        self.batch = config.batch
        self.words = max(1, math.ceil(config.max_level / _WORD))
        # Offline windows must hold the longest sequence the curriculum can ask for.
        self.offline_steps = self.info.offline_steps

    # Equal and hashed by settings: the trainer's compiled programs take the task as a static
    # argument, so trainers with equal settings share compilations.
    def __eq__(self, other):
        return type(other) is type(self) and other.config == self.config

    def __hash__(self):
        return hash((type(self).__name__, self.config))

    def shared_data(self):
        return ()  # no data shared between members: everything is generated from each member's key

    def init(self, key) -> CopyState:
        b = self.batch
        return CopyState(
            key=key,
            level=jnp.asarray(self.config.start_level, jnp.int32),
            # Starting at the reset value: the first updates (loss ~2 bits) pull it up at once, so
            # the curriculum cannot rise before the network has learnt anything.
            ema=jnp.asarray(self.config.ema_reset, jnp.float32),
            length=jnp.zeros((b,), jnp.int32),
            pos=jnp.full((b,), copy_sequence_steps(0), jnp.int32),  # every stream starts "finished"
            bits=jnp.zeros((b, self.words), jnp.uint32),
        )

    def _draw(self, key, level):
        """New sequences for all B streams at `level`: (length [B], bits [B, words])."""
        k_len, k_bits = jax.random.split(key)
        low = jnp.maximum(1, level - self.config.length_spread)
        length = jax.random.randint(k_len, (self.batch,), low, level + 1, jnp.int32)
        bits = jax.random.bits(k_bits, (self.batch, self.words), jnp.uint32)
        return length, bits

    def _bit(self, bits, index):
        """Bit `index` [B] (0-based) of each stream's packed sequence [B, words] -> [B] int32."""
        index = jnp.clip(index, 0, self.words * _WORD - 1)
        word = jnp.take_along_axis(bits, (index // _WORD)[:, None], axis=1)[:, 0]
        return ((word >> (index % _WORD).astype(jnp.uint32)) & 1).astype(jnp.int32)

    def _tokens(self, length, bits, pos):
        """(x, y) [B] at position `pos` [B] of sequences with `length` [B] bits."""
        x = jnp.where(pos == 0, START, jnp.where(pos <= length, self._bit(bits, pos - 1), BLANK))
        y = jnp.where(pos <= length, BLANK, jnp.where(pos == length + 1, START, self._bit(bits, pos - length - 2)))
        return x.astype(jnp.int32), y.astype(jnp.int32)

    def online_window(self, ts: CopyState, data) -> tuple[CopyState, Window]:
        """One step of every stream: a T = 1 window. Finished streams start a new sequence."""
        key, k_draw = jax.random.split(ts.key)
        new_length, new_bits = self._draw(k_draw, ts.level)
        done = ts.pos >= copy_sequence_steps(ts.length)
        length = jnp.where(done, new_length, ts.length)
        bits = jnp.where(done[:, None], new_bits, ts.bits)
        pos = jnp.where(done, 0, ts.pos)
        x, y = self._tokens(length, bits, pos)
        window = Window(x=x[None], y=y[None], weight=jnp.ones((1, self.batch), jnp.float32), reset=done[None])
        return ts._replace(key=key, length=length, bits=bits, pos=pos + 1), window

    def offline_window(self, ts: CopyState, data) -> tuple[CopyState, Window]:
        """One fresh sequence per element at the current level, padded with weight 0."""
        key, k_draw = jax.random.split(ts.key)
        return ts._replace(key=key), self._sequence_window(k_draw, ts.level)

    def probe_window(self, ts: CopyState, data, key) -> Window:
        """A window for the gradient-fidelity probe, drawn from `key` (the data stream is untouched)."""
        return self._sequence_window(key, ts.level)

    def _sequence_window(self, key, level) -> Window:
        length, bits = self._draw(key, level)
        t = jnp.arange(self.offline_steps, dtype=jnp.int32)
        x, y = jax.vmap(lambda p: self._tokens(length, bits, jnp.broadcast_to(p, length.shape)))(t)
        weight = (t[:, None] < copy_sequence_steps(length)[None, :]).astype(jnp.float32)
        reset = jnp.broadcast_to(t[:, None] == 0, weight.shape)
        return Window(x=x, y=jnp.where(weight > 0, y, BLANK), weight=weight, reset=reset)

    def observe(self, ts: CopyState, loss_bits, steps) -> CopyState:
        """Curriculum: fold `steps` per-step losses whose mean is `loss_bits` into the EMA.

        Online, steps = 1 and this is the plain EMA, ema <- decay * ema + (1 - decay) * loss, one
        step at a time. Offline, one update covers a whole window; treating its `steps` per-step
        losses as equal to their mean gives decay**steps, so the curriculum runs on the same
        per-token clock in both modes.
        """
        c = self.config
        decay = jnp.asarray(c.ema_decay, jnp.float32) ** steps
        ema = decay * ts.ema + (1 - decay) * loss_bits.astype(jnp.float32)
        rise = (ema < c.threshold_bits) & (ts.level < c.max_level)
        return ts._replace(
            level=jnp.where(rise, ts.level + 1, ts.level),
            ema=jnp.where(rise, jnp.asarray(c.ema_reset, jnp.float32), ema),
        )

    def metrics(self, ts: CopyState) -> dict:
        return {"curriculum_level": ts.level}
