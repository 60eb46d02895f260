"""Where a pack's members live: one device, or the member axis sharded over N local devices.

`Trainer(config, members, devices=N)` with N > 1 lays the pack out on a 1-D mesh over the first N
of this process's local devices (`jax.local_devices()`: the GPUs or TPU chips a trial holds). Every
`TrainState` leaf is split along its leading member axis (NamedSharding, PartitionSpec("members")),
the shared data (the text, validation windows) is replicated, and each program runs under
`jax.shard_map`: each device trains its own share of members with no communication at all. So a
device runs exactly the program a one-device pack of that share would run, and results equal the
one-device pack member for member.

Uneven packs are padded, not refused (so a pack of any size fits any device count): the member
axis on the devices is rounded up to a multiple of N with copies of the last member. A copy trains
like its original, and whatever it produces is dropped: records, summaries and checkpoints hold
the real members only. Checkpoints are device-independent: saving drops the padding and gathers to
the host; loading pads and places onto this trainer's mesh, so a pack saved on 4 devices resumes
on 1 and the other way round.

devices None or 1 is the single-device path: no mesh, no padding, nothing placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from snapsweep.errors import ConfigError

MEMBER_AXIS = "members"


@dataclass(frozen=True)
class Placement:
    members: int  # the pack's real members
    padded: int  # members on the devices: `members` rounded up to a multiple of the device count
    mesh: Optional[Mesh]  # None: one device, JAX's default placement

    @classmethod
    def of(cls, members: int, devices: Optional[int]) -> "Placement":
        if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int) or devices < 1):
            raise ConfigError(f"devices must be an integer >= 1 or None, got {devices!r}", where="devices",
                              fix="give the number of local devices the trial holds (resources.gpu or resources.tpu)")
        if devices is None or devices == 1:
            return cls(members, members, None)
        local = jax.local_devices()
        if len(local) < devices:
            raise ConfigError(f"devices={devices}, but this process sees {len(local)} local "
                              f"{local[0].platform} device(s)", where="devices",
                              fix="request as many devices as the node gives a trial, or run where they are visible")
        padded = -(-members // devices) * devices
        return cls(members, padded, Mesh(np.array(local[:devices]), (MEMBER_AXIS,)))

    def pad(self, state):
        """Real members [M] -> the device layout's [padded]: copies of the last member appended
        (on the host: `place` then sends each leaf to its devices once)."""
        extra = self.padded - self.members
        if extra == 0:
            return state
        return jax.tree.map(lambda x: _host(x, lambda xp, a: xp.concatenate([a, xp.repeat(a[-1:], extra, axis=0)])),
                            state)

    def real(self, tree):
        """The real members of a tree with a leading [padded] axis (drops the padding copies;
        gathered to the host when there are any)."""
        if self.padded == self.members:
            return tree
        return jax.tree.map(lambda x: _host(x, lambda xp, a: a[:self.members]), tree)

    def place(self, state):
        """Member axis split over the mesh (a no-op for arrays already placed so)."""
        if self.mesh is None:
            return state
        return jax.device_put(state, NamedSharding(self.mesh, PartitionSpec(MEMBER_AXIS)))

    def replicate(self, tree):
        """Shared data: a full copy on every device of the mesh."""
        if self.mesh is None:
            return tree
        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec()))


def _host(x, edit):
    """edit(xp, array) on a leaf as a numpy array (np), or as a JAX array (jnp) for a typed PRNG
    key, which numpy cannot hold."""
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return edit(jnp, x)
    return edit(np, np.asarray(x))


def per_device(fn: Callable, mesh: Optional[Mesh], member_args: Sequence[bool]) -> Callable:
    """`fn` over a pack -> `fn` run on each device's share of the members (mesh None: `fn` itself).

    member_args[i]: whether argument i has the member axis (split) or is shared (replicated). Every
    output has the member axis. Used inside the programs' `jax.jit` (programs.py)."""
    if mesh is None:
        return fn
    specs = tuple(PartitionSpec(MEMBER_AXIS) if split else PartitionSpec() for split in member_args)
    return jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=PartitionSpec(MEMBER_AXIS),
                         check_vma=False)


__all__ = ["MEMBER_AXIS", "Placement", "per_device"]
