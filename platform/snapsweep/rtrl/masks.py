"""Static random weight masks with a fixed fan-in (and, for recurrent matrices, a fixed fan-out).

Why fixed counts: the shapes that methods derive from masks (SnAp-n's neighbourhood tables, compact
rows of U) must depend only on the ModelConfig, never on the seed, so that trials with different
seeds can be stacked and vmapped. A recurrent mask is a circulant pattern with `m` random distinct
offsets whose rows and columns are then randomly permuted: every row and every column keeps exactly
`m` entries. Input masks only need a fixed fan-in (inputs are not units).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.costs import input_fan_in


def regular_mask(key, width: int, fan_in: int, dtype) -> jax.Array:
    """[width, width] 0/1 mask, exactly `fan_in` ones in every row and every column."""
    k_off, k_rows, k_cols = jax.random.split(key, 3)
    offsets = jax.random.permutation(k_off, width)[:fan_in]
    row_perm = jax.random.permutation(k_rows, width)
    col_perm = jax.random.permutation(k_cols, width)
    col_inv = jnp.argsort(col_perm)
    # M[i, j] = C[row_perm[i], col_perm[j]] with C[a, (a + s) mod width] = 1.
    cols = col_inv[(row_perm[:, None] + offsets[None, :]) % width]
    rows = jnp.broadcast_to(jnp.arange(width)[:, None], cols.shape)
    return jnp.zeros((width, width), dtype).at[rows, cols].set(1)


def fan_in_mask(key, rows: int, width: int, fan_in: int, dtype) -> jax.Array:
    """[rows, width] 0/1 mask with exactly `fan_in` random ones per row."""
    scores = jax.random.uniform(key, (rows, width))
    kept = jnp.argsort(scores, axis=1)[:, :fan_in]
    r = jnp.broadcast_to(jnp.arange(rows)[:, None], kept.shape)
    return jnp.zeros((rows, width), dtype).at[r, kept].set(1)


def kept_columns(mask: jax.Array, fan_in: int) -> jax.Array:
    """Column indices of the kept entries of each row, ascending: [..., rows, fan_in] int32.

    Exact because every row keeps exactly `fan_in` entries (see `regular_mask`).
    """
    width = mask.shape[-1]
    # Kept columns sort first (key < width), in ascending order; the rest after.
    sort_key = jnp.where(mask > 0, 0, width) + jnp.arange(width)
    return jnp.argsort(sort_key, axis=-1)[..., :fan_in].astype(jnp.int32)


def gather_columns(leaf: jax.Array, cols: jax.Array) -> jax.Array:
    """leaf [G, k, width, ...] at kept columns cols [Gm, k, m] (Gm = 1 or G) -> [G, k, m, ...]."""
    G, k = leaf.shape[:2]
    index = jnp.broadcast_to(cols, (G, k, cols.shape[-1]))
    return jnp.take_along_axis(leaf, index.reshape(index.shape + (1,) * (leaf.ndim - 3)), axis=2)


def scatter_columns(values: jax.Array, cols: jax.Array, width: int) -> jax.Array:
    """Transpose of `gather_columns` for [G, k, m] values: zeros elsewhere, [G, k, width]."""
    G, k, m = values.shape
    index = jnp.broadcast_to(cols, (G, k, m))
    g = jnp.arange(G)[:, None, None]
    i = jnp.arange(k)[None, :, None]
    return jnp.zeros((G, k, width), values.dtype).at[g, i, index].add(values)


def compact_columns(model, masks) -> dict:
    """Kept columns of the masked matrices that traces store compactly: {"U": [Gm, k, m]} on a
    sparse net, {"W": [Gm, k, m_in]} with masked inputs; a leaf left out is stored at full width."""
    cols = {}
    if model.fan_in < model.units:
        cols["U"] = kept_columns(masks["U"], model.fan_in)
    if "W" in masks and input_fan_in(model) < model.input_width:
        cols["W"] = kept_columns(masks["W"], input_fan_in(model))
    return cols
