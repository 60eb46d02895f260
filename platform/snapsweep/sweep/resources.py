"""What one Tune trial (one pack) asks Ray for, and the environment its process starts with.

Ray schedules CPU and GPU natively; TPUs are a custom resource named "TPU", which is what Ray's
TPU nodes advertise (and what `ray start --resources '{"TPU": 1}'` fakes in tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from snapsweep import settings


# A process on a GPU share also holds a CUDA context and XLA's scratch space outside the
# preallocated pool, so the pool gets a little less than the share.
GPU_SHARE_HEADROOM = 0.9


@dataclass(frozen=True)
class TrialResources:
    cpu: float
    gpu: float
    tpu: int
    memory: int | None = None  # bytes; None leaves it to Ray

    @classmethod
    def from_spec(cls, resources) -> "TrialResources":
        """`resources` is the spec's resources section (cpu, gpu, tpu, memory)."""
        return cls(cpu=float(resources.cpu), gpu=float(resources.gpu or 0), tpu=int(resources.tpu or 0),
                   memory=getattr(resources, "memory", None))

    def tune_request(self) -> dict:
        """The dict `tune.with_resources` takes: cpu and gpu natively, TPU as a custom resource."""
        request: dict = {"cpu": self.cpu, "gpu": self.gpu}
        if self.memory:
            request["memory"] = self.memory
        if self.tpu:
            request["TPU"] = self.tpu
        return request

    def ray_names(self) -> dict:
        """The same request under the names Ray's cluster_resources() uses."""
        names = {"CPU": self.cpu}
        if self.gpu:
            names["GPU"] = self.gpu
        if self.tpu:
            names["TPU"] = float(self.tpu)
        if self.memory:
            names["memory"] = float(self.memory)
        return names

    def label(self) -> str:
        parts = [f"{self.cpu:g} cpu"]
        if self.gpu:
            parts.append(f"{self.gpu:g} gpu")
        if self.tpu:
            parts.append(f"{self.tpu} tpu")
        if self.memory:
            parts.append(f"{self.memory / 2**30:.3g} GiB")
        return ", ".join(parts)

    def missing_from(self, available: Mapping[str, float]) -> dict:
        """The parts of one trial's request that `available` (cluster totals) cannot meet."""
        return {name: need for name, need in self.ray_names().items() if available.get(name, 0.0) < need}


# JAX's persistent compilation cache, set by trial_env(compile_cache=...): compiling a pack's
# programs is most of a small pack's time on a CPU (12 of 19 s for a 4-unit GRU pack), and a re-run,
# a resumed pack or a retried trial compiles exactly the same programs again.
CACHE_ENV = {
    "JAX_COMPILATION_CACHE_DIR": "jax_compilation_cache_dir",
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "jax_persistent_cache_min_compile_time_secs",
}


def trial_env(resources: TrialResources, environ: Mapping[str, str] | None = None,
              compile_cache: str | None = None) -> dict[str, str]:
    """Environment variables every trial process gets, before it imports or initialises JAX.

    JAX preallocates 75% of a GPU per process; several packs sharing a GPU would each try to take
    it. A fractional share therefore caps the pool at that share; otherwise the pool grows on
    demand. `compile_cache`: a directory for JAX's persistent compilation cache (every program,
    however quick to compile: the small ones are the many). A value the user already exported wins.
    """
    env: dict[str, str] = {}
    if 0 < resources.gpu < 1:
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{resources.gpu * GPU_SHARE_HEADROOM:.3f}"
    else:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    if compile_cache:
        env["JAX_COMPILATION_CACHE_DIR"] = compile_cache
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    names = ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", *CACHE_ENV, *settings.CACHE_ENV)
    env.update(settings.inherited(names, environ))
    return env
