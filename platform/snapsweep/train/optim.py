"""The optimizer: optional global-norm clipping, then Adam or SGD, with a per-member learning rate.

The learning rate is an injected hyperparameter (`optax.inject_hyperparams`): it lives in each
member's optimizer state, so members with different rates share one compiled program and vmap.
"""

from __future__ import annotations

import optax

from snapsweep.train.config import OptimConfig


def _chain(config: OptimConfig):
    def make(learning_rate):
        parts = []
        if config.clip_norm is not None:
            parts.append(optax.clip_by_global_norm(config.clip_norm))
        if config.name == "adam":
            parts.append(optax.adam(learning_rate, b1=config.b1, b2=config.b2, eps=config.eps))
        else:
            parts.append(optax.sgd(learning_rate))
        return optax.chain(*parts)

    return optax.inject_hyperparams(make)


def make_optimizer(config: OptimConfig) -> optax.GradientTransformation:
    """The transformation used for updates: it reads the learning rate from the state, so the
    value given here (0) is never used."""
    return _chain(config)(learning_rate=0.0)


def init_opt_state(config: OptimConfig, params, lr):
    """Optimizer state for one member whose learning rate is `lr` (may be a traced scalar)."""
    return _chain(config)(learning_rate=lr).init(params)
