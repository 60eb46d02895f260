"""Model parameters, static masks, inputs and the readout loss: what every method shares."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from snapsweep.rtrl.cells import get_cell
from snapsweep.rtrl.config import ModelConfig, mask_fan_in
from snapsweep.rtrl.masks import fan_in_mask, regular_mask


def init_model(model: ModelConfig, key):
    """-> (params, structure).

    params: {"cell": {"W": [G,k,n_in], "U": [G,k,k], "b": [G,k]}, "readout": {"W": [k,V], "b": [V]}}
    plus {"embed": {"E": [vocab_in, embed_dim]}} when input_kind is "embed".
    structure: {"masks": {"U": [Gm,k,k], and "W": [Gm,k,n_in] when mask_inputs}} with Gm = 1 when
    the gates share one mask, else G. Shapes depend only on `model`, never on `key`.
    """
    cell = get_cell(model.cell)
    k, G, n_in = model.units, cell.gates, model.input_width
    dtype = jnp.dtype(model.dtype)
    k_mask_u, k_mask_w, k_u, k_w, k_out, k_emb = jax.random.split(key, 6)
    gm = 1 if model.shared_masks else G
    masks = {"U": jnp.stack([regular_mask(kk, k, model.fan_in, dtype) for kk in jax.random.split(k_mask_u, gm)])}
    if model.mask_inputs:
        fan = mask_fan_in(n_in, model.density)
        masks["W"] = jnp.stack([fan_in_mask(kk, k, n_in, fan, dtype) for kk in jax.random.split(k_mask_w, gm)])
    # Recurrent weights scaled by the kept fan-in so sparse layers start at the dense layer's gain.
    U = jax.random.normal(k_u, (G, k, k), dtype) / jnp.sqrt(jnp.asarray(model.fan_in, dtype))
    # A one-hot input selects one column, so its scale is that of an embedding, not 1/sqrt(n_in).
    w_scale = 0.5 if model.input_kind == "onehot" else 1.0 / jnp.sqrt(jnp.asarray(n_in, dtype))
    W = jax.random.normal(k_w, (G, k, n_in), dtype) * w_scale
    cell_params = apply_masks({"W": W, "U": U, "b": cell.init_bias(k, dtype)}, masks)
    params = {
        "cell": cell_params,
        "readout": {
            "W": jax.random.normal(k_out, (k, model.vocab_out), dtype) / jnp.sqrt(jnp.asarray(k, dtype)),
            "b": jnp.zeros((model.vocab_out,), dtype),
        },
    }
    if model.input_kind == "embed":
        params["embed"] = {"E": jax.random.normal(k_emb, (model.vocab_in, model.embed_dim), dtype)}
    return params, {"masks": masks}


def apply_masks(cell_params, masks):
    """Effective weights W ⊙ M: masked entries take no part and get exactly zero gradient."""
    out = dict(cell_params)
    out["U"] = cell_params["U"] * masks["U"]
    if "W" in masks:
        out["W"] = cell_params["W"] * masks["W"]
    return out


def cell_inputs(model: ModelConfig, params, x):
    """What the cell reads at a step: the int tokens themselves (one-hot), or their embeddings."""
    if model.input_kind == "embed":
        return params["embed"]["E"][x]
    return x


def zero_state(model: ModelConfig, batch_size: int):
    cell = get_cell(model.cell)
    return jnp.zeros((batch_size, cell.channels, model.units), jnp.dtype(model.dtype))


def readout_loss(readout, h, y, weight):
    """Summed weighted cross-entropy (nats) of one step over the batch: (sum w*CE, sum w).

    h: [B, k] (the h channel; the LSTM's c is not read out).
    """
    logits = h @ readout["W"] + readout["b"]
    logp = jax.nn.log_softmax(logits, axis=-1)
    ce = -jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=-1)[:, 0]
    w = weight.astype(h.dtype)
    return jnp.sum(w * ce), jnp.sum(w)


def reset_rows(tree, reset):
    """Zero the batch rows of every leaf (leading axis B) where `reset` [B] is True."""

    def zero(leaf):
        keep = ~reset.reshape(reset.shape + (1,) * (leaf.ndim - 1))
        return jnp.where(keep, leaf, jnp.zeros((), leaf.dtype))

    return jax.tree.map(zero, tree)


def cell_shapes(model: ModelConfig):
    """Shapes of the cell parameters (and of one channel of SnAp-1 traces), as ShapeDtypeStructs."""
    cell = get_cell(model.cell)
    G, k, n_in, dtype = cell.gates, model.units, model.input_width, jnp.dtype(model.dtype)
    return {
        "W": jax.ShapeDtypeStruct((G, k, n_in), dtype),
        "U": jax.ShapeDtypeStruct((G, k, k), dtype),
        "b": jax.ShapeDtypeStruct((G, k), dtype),
    }
