"""A sweep spec -> trials (grid points) -> packs (trials that can share one vmapped program).

A trial id hashes only what the trial computes (its TrainConfig and Member), never the spec's name,
axis order or platform sections, so a re-run or a grown spec (one more seed) finds the same ids and
can skip what already finished.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from snapsweep.errors import ConfigError
from snapsweep.spec import resolve
from snapsweep.spec.load import digest
from snapsweep.spec.models import MethodChoice, SweepSpec
from snapsweep.train.config import Member, TrainConfig

ID_LENGTH = 12
# Part of every hash: bump it when the meaning of a resolved setting changes, so that old results
# are not mistaken for new ones.
_ID_SALT = "snapsweep-trial-v1"


# Settings that gate a trial but do not change what it computes: a raised budget finds the same ids.
_NOT_HASHED = ("trace_budget_bytes", "divergence_factor")


def _computed(config: TrainConfig) -> dict:
    return {key: value for key, value in config.to_dict().items() if key not in _NOT_HASHED}


def config_key(config: TrainConfig) -> str:
    """Hash of what pack members share; equal keys may run in one pack."""
    return digest({"salt": _ID_SALT, "config": _computed(config)}, ID_LENGTH)


def trial_id(config: TrainConfig, member: Member) -> str:
    return digest({"salt": _ID_SALT, "config": _computed(config), "member": dataclasses.asdict(member)}, ID_LENGTH)


@dataclass(frozen=True)
class Trial:
    """One grid point: one training run, one MLflow run."""

    id: str  # hash of config + member
    pack_key: str  # hash of config alone
    config: TrainConfig
    member: Member
    # method (the registry's canonical name, "snap2-online"), mode, cell, density, hidden, units
    # (actual k), lr, seed: for tags and reports.
    axes: dict[str, Any] = field(compare=False, hash=False)
    label: str = field(compare=False)


@dataclass(frozen=True)
class Pack:
    """Trials with one shared config (they differ in seed and lr): one Ray Tune trial."""

    id: str  # hash of the sorted member trial ids
    config: TrainConfig
    trials: tuple[Trial, ...]

    @property
    def members(self) -> tuple[Member, ...]:
        return tuple(t.member for t in self.trials)


def shared_label(axes: dict[str, Any]) -> str:
    """What a pack's members share, e.g. "gru-h32-d1-snap2-online"."""
    return f"{axes['cell']}-h{axes['hidden']}-d{axes['density']:g}-{axes['method']}"


def _label(axes: dict[str, Any]) -> str:
    return f"{shared_label(axes)}-lr{axes['lr']:.3g}-s{axes['seed']}"


def expand(sweep: SweepSpec) -> list[Trial]:
    """Every grid point of the spec, in axis order (cells, hiddens, densities, methods, lrs, seeds)."""
    axes, m = sweep.axes, sweep.model
    choices: list[Optional[MethodChoice]] = list(axes.methods) if axes.methods else [None]
    trials = []
    for cell in axes.cells or [m.cell]:
        for hidden in axes.hiddens or [m.hidden]:
            for density in axes.densities or [m.density]:
                for choice in choices:
                    method = resolve.method_id(sweep.method, choice)
                    config = resolve.train_config(sweep.task, m, method, sweep.optim, sweep.schedule,
                                                  cell=cell, hidden=hidden, density=density,
                                                  trace_budget=sweep.trace_budget)
                    key = config_key(config)
                    for lr in axes.lrs or [sweep.optim.lr]:
                        for seed in axes.seeds or [sweep.seed]:
                            member = Member(seed=int(seed), lr=float(lr))
                            point = {"method": method.name, "mode": method.mode,
                                     "cell": cell, "density": float(density), "hidden": hidden,
                                     "units": config.model.units, "lr": member.lr, "seed": member.seed}
                            trials.append(Trial(id=trial_id(config, member), pack_key=key, config=config,
                                                member=member, axes=point, label=_label(point)))
    return trials


def packs(trials: Sequence[Trial], max_members: int = 12, devices: int = 1) -> list[Pack]:
    """Group trials with identical configs, at most `max_members` per pack (1: no packing).

    Members are ordered by (lr, seed) so a pack's make-up does not depend on axis order. Groups
    come in order of their first trial. A trial listed twice runs once. With `devices` > 1 (a
    trial holding several GPUs or TPU chips shards its members over them) a pack holds a multiple
    of `devices` members, so full packs fill every device and only a group's last pack is padded.
    """
    if isinstance(max_members, bool) or not isinstance(max_members, int) or max_members < 1:
        raise ConfigError(f"max_members must be an integer >= 1, got {max_members!r}", where="packing.max_members",
                          fix="use 1 (no packing) or more")
    if devices > 1:
        max_members = max(devices, max_members // devices * devices)
    groups: dict[str, dict[str, Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.pack_key, {}).setdefault(trial.id, trial)
    out = []
    for members in groups.values():
        ordered = sorted(members.values(), key=lambda t: (t.member.lr, t.member.seed, t.id))
        for start in range(0, len(ordered), max_members):
            chunk = tuple(ordered[start:start + max_members])
            out.append(Pack(id=digest(sorted(t.id for t in chunk), ID_LENGTH), config=chunk[0].config, trials=chunk))
    return out
