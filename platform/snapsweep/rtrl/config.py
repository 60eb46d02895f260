"""`ModelConfig`: everything that fixes the shapes of a model's parameters and masks.

All fields are required on purpose: defaults belong to the spec layer, so a trial's resolved
settings are always complete and hashable.
"""

from __future__ import annotations

import dataclasses
import math

from snapsweep.errors import ConfigError

# cell -> (G gates, C state channels). The JAX cells (cells/) declare the same; a test checks it.
# Kept here, in pure Python, so costs and budgets are computed where JAX is not installed.
CELL_SHAPES = {"gru": (3, 1), "lstm": (4, 2), "rnn": (1, 1)}
CELLS = tuple(CELL_SHAPES)
SIZE_RULES = ("match", "fixed")
INPUT_KINDS = ("onehot", "embed")
DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A recurrent model: one cell layer plus a linear readout (logits = h_t @ W + b).

    `hidden` is the nominal width. With `size_rule="match"` the actual number of units is
    `round(hidden / sqrt(density))`, so a sparse layer keeps about the parameter count of the dense
    one (the paper's comparison at equal parameter count); with `"fixed"` it is `hidden`. Use `units` for the actual k.
    """

    cell: str
    hidden: int
    vocab_in: int
    vocab_out: int
    density: float
    size_rule: str
    shared_masks: bool
    mask_inputs: bool
    input_kind: str
    embed_dim: int
    dtype: str

    def __post_init__(self):
        where = "model"
        if self.cell not in CELLS:
            raise ConfigError(f"unknown cell {self.cell!r}", where=where, fix=f"use one of {', '.join(CELLS)}")
        for name in ("hidden", "vocab_in", "vocab_out"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}", where=where,
                                  fix=f"set {name} to an integer >= 1")
        density = self.density
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not (0.0 < density <= 1.0):
            raise ConfigError(f"density must be in (0, 1], got {density!r}", where=where,
                              fix="use a fraction of kept recurrent weights, e.g. 1.0 (dense) or 0.25")
        if self.size_rule not in SIZE_RULES:
            raise ConfigError(f"unknown size_rule {self.size_rule!r}", where=where,
                              fix="use 'match' (k = hidden / sqrt(density)) or 'fixed' (k = hidden)")
        if self.input_kind not in INPUT_KINDS:
            raise ConfigError(f"unknown input_kind {self.input_kind!r}", where=where,
                              fix="use 'onehot' (byte tokens) or 'embed' (learned embedding)")
        if self.input_kind == "embed" and (not isinstance(self.embed_dim, int) or self.embed_dim < 1):
            raise ConfigError(f"input_kind 'embed' needs embed_dim >= 1, got {self.embed_dim!r}", where=where,
                              fix="set embed_dim, e.g. 64")
        if self.input_kind == "onehot" and self.embed_dim != 0:
            raise ConfigError("embed_dim is only used with input_kind 'embed'", where=where,
                              fix="set embed_dim: 0 or input_kind: embed")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r}", where=where, fix="use 'float32' or 'float64'")
        if not isinstance(self.shared_masks, bool) or not isinstance(self.mask_inputs, bool):
            raise ConfigError("shared_masks and mask_inputs must be booleans", where=where,
                              fix="write true or false")

    @property
    def units(self) -> int:
        """Actual number of hidden units k."""
        if self.size_rule == "fixed":
            return self.hidden
        return max(1, int(round(self.hidden / math.sqrt(self.density))))

    @property
    def fan_in(self) -> int:
        """Kept entries per row of a recurrent matrix (masks have a fixed fan-in, see masks.py)."""
        return mask_fan_in(self.units, self.density)

    @property
    def input_width(self) -> int:
        """Width of the cell's input: vocab_in for one-hot tokens, embed_dim for embeddings."""
        return self.vocab_in if self.input_kind == "onehot" else self.embed_dim

    @property
    def sparse(self) -> bool:
        return self.fan_in < self.units


def mask_fan_in(width: int, density: float) -> int:
    """Nonzeros per row: round(density * width), at least one."""
    return min(width, max(1, int(round(density * width))))
