"""Pydantic models of a sweep spec: the only place where defaults and their descriptions live.

Every model forbids unknown keys (a typo must not silently fall back to a default) and every field
carries a description, so `snapsweep schema` documents the whole format. Checks that need more than
one field (method against mode, sizes against the memory budget, ...) live in `checks.py`; they run
in `SweepSpec`'s and `TrialSpec`'s after-validators so that no invalid spec object ever exists.
"""

from __future__ import annotations

import math
import os
import re
from typing import Annotated, Any, Callable, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from snapsweep import settings
from snapsweep.errors import ConfigError
from snapsweep.rtrl import costs, registry
from snapsweep.rtrl.config import CELLS

# Allowed values come from the registry and the cell table; these are declarations, not choices.
CellName = Literal[CELLS]
MethodName = Literal[tuple(registry.FAMILIES)]
Mode = Literal[registry.MODES]
Form = Literal[registry.FORMS]
METHODS: tuple[str, ...] = tuple(registry.FAMILIES)
# Families that take a SnAp order n; for the others n is meaningless and resolves to 1 so that it
# cannot split otherwise identical trials.
SNAP_METHODS: tuple[str, ...] = tuple(name for name, family in registry.FAMILIES.items() if family.takes_order)

# Every section: unknown keys are errors (a typo must not fall back to a default), and values are
# taken strictly: YAML reads `true`/`yes` as booleans, and a boolean is never a number (`hidden: true`
# is refused, not read as 1); integers still pass where a float is expected.
# Infinities and NaN are never settings (`.inf` resources, `.nan` densities).
SECTION = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

# Seeds feed jax.random.PRNGKey, which takes an unsigned 32-bit integer.
MAX_SEED = 2**32 - 1


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _spec_error(message: str, fix: str) -> PydanticCustomError:
    # The fix travels in the error context; diagnose.py turns it into SpecError.fix.
    return PydanticCustomError("spec", "{message}", {"message": message, "fix": fix})


# ----------------------------------------------------------------------------------------------
# Learning rates: the paper's grid is written in powers of ten, so "10^-2.5" is accepted verbatim
# (exactly 10**-2.5, no rounding by hand). YAML 1.1 reads "1e-3" as a string; accept it as a number.

_POW10 = re.compile(r"^\s*10\s*\^\s*\(?\s*([+-]?\d+(?:\.\d+)?)\s*\)?\s*$")


def _parse_lr(value: Any) -> Any:
    if isinstance(value, str):
        match = _POW10.match(value)
        try:
            return 10.0 ** float(match.group(1)) if match else float(value)
        except OverflowError:  # 10^400: no float holds it (1e999 parses as inf and is refused as such)
            raise _spec_error(f"{value!r} overflows a float", "write a learning rate below 1, e.g. 10^-3")
        except ValueError:
            raise _spec_error(f"not a number: {_shown(value)}", "write a positive number such as 0.001, 1.0e-3 or 10^-3")
    return value


LearningRate = Annotated[
    float, BeforeValidator(_parse_lr, json_schema_input_type=Union[float, str]), Field(gt=0, allow_inf_nan=False)
]
Density = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Hidden = Annotated[int, Field(ge=1)]

# Ray accepts memory in bytes; people write "4GiB".
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def _parse_memory(value: Any) -> Any:
    if isinstance(value, str):
        match = _MEMORY.match(value)
        unit = match.group(2).lower() if match else None
        if not match or unit not in _UNITS:
            raise _spec_error(f"not a memory size: {_shown(value)}", "write bytes (4000000000) or a size like 4GiB, 512MiB, 8GB")
        size = float(match.group(1)) * _UNITS[unit]
        return int(size) if math.isfinite(size) else size  # inf is refused by the bound below
    return value


# A pebibyte: more than any machine holds, so a larger size is a typo, not a setting.
MAX_MEMORY_BYTES = 2**50
MemorySize = Annotated[int, BeforeValidator(_parse_memory, json_schema_input_type=Union[int, str]),
                       Field(le=MAX_MEMORY_BYTES)]


# ----------------------------------------------------------------------------------------------
# Tasks


class CopyTask(BaseModel):
    """Copy task with a curriculum: tokens {0, 1, start, blank}; each batch element is its own stream."""

    model_config = SECTION

    kind: Literal["copy"] = Field(description="Task selector: `copy` for the copy task with curriculum.")
    batch: int = Field(16, ge=1, description="Independent streams of sequences per update (paper: 16).")
    length_spread: int = Field(
        4, ge=0,
        description="At curriculum level L a sequence has T bits with T uniform in {max(1, L - length_spread), ..., L}.",
    )
    start_level: int = Field(1, ge=1, description="Curriculum level L at the start of training.")
    threshold_bits: float = Field(
        0.15, gt=0,
        description="The level rises by one when the EMA of the per-step loss (bits) falls below this.",
    )
    ema_decay: float = Field(0.999, gt=0, lt=1, description="Decay of the per-step loss EMA that drives the curriculum.")
    ema_reset: float = Field(0.3, gt=0, description="Value the loss EMA is reset to after the level rises (bits).")
    max_level: int = Field(
        100, ge=1,
        description="Highest curriculum level. Offline windows are padded to 2*max_level+2 steps, so keep it "
                    "near what training can reach (the reference 64-unit GRU reaches about 11 in 100k steps).",
    )


class WikitextTask(BaseModel):
    """Byte-level character language modelling on raw WikiText (or any local text)."""

    model_config = SECTION

    kind: Literal["wikitext"] = Field(description="Task selector: `wikitext` for byte-level character LM.")
    source: Optional[Literal["hub", "local"]] = Field(
        None,
        description="Where the text comes from: `hub` (datasets.load_dataset(hub_path, hub_name)) or `local` "
                    "(files under data_dir). Unset: `local` when data_dir is given, else `hub`.",
    )
    data_dir: Optional[str] = Field(
        None,
        description="Directory (or single file) of local text for source `local`; a relative path is resolved "
                    "against the directory of the spec file (against the working directory on the command line).",
    )
    hub_path: str = Field("Salesforce/wikitext", min_length=1, description="Hugging Face dataset path for source `hub`.")
    hub_name: str = Field("wikitext-103-raw-v1", min_length=1, description="Hugging Face dataset config for source `hub`.")
    crop: int = Field(128, ge=2, description="Characters per training window (a random crop); one offline update per window.")
    batch: int = Field(16, ge=1, description="Windows per update (paper: 16).")
    holdout_fraction: float = Field(
        0.05, gt=0, lt=1,
        description="Trailing fraction of the text held out for validation when the source has no validation split.",
    )
    valid_chars: Optional[int] = Field(
        None, ge=1,
        description="Validation characters scored (a fixed leading slice of the validation text); null scores all of it.",
    )
    valid_batch: int = Field(32, ge=1, description="Parallel streams used to score the validation text.")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        # Relative to the spec file, so a spec means the same data wherever it is run from.
        if value is None:
            return None
        base = (info.context or {}).get("base_dir") or os.getcwd()
        return os.path.normpath(os.path.join(base, os.path.expanduser(value)))

    @model_validator(mode="after")
    def _default_source(self) -> "WikitextTask":
        if self.source is None:
            self.source = "local" if self.data_dir else "hub"
        return self


Task = Annotated[Union[CopyTask, WikitextTask], Field(discriminator="kind")]


# ----------------------------------------------------------------------------------------------
# Model


class Model(BaseModel):
    """The recurrent network: one cell layer and a linear readout. vocab_in/vocab_out come from the task."""

    model_config = SECTION

    cell: CellName = Field("gru", description="Recurrent cell: `gru` (reset-after-matmul form), `lstm` or `rnn` (tanh).")
    hidden: Hidden = Field(
        128,
        description="Nominal width k_dense. With size_rule `match` the layer has round(hidden / sqrt(density)) units.",
    )
    density: Density = Field(1.0, description="Fraction of recurrent weights kept by the static random mask, in (0, 1].")
    size_rule: Literal["match", "fixed"] = Field(
        "match",
        description="`match`: k = hidden / sqrt(density), so sparse layers keep about the dense parameter count; "
                    "`fixed`: k = hidden.",
    )
    shared_masks: bool = Field(True, description="One mask shared by all gates of the layer (keeps D sparse) or one per gate.")
    mask_inputs: bool = Field(True, description="Also sparsify the input-to-hidden weights with the same density.")
    input_kind: Literal["onehot", "embed"] = Field("onehot", description="Token input: one-hot columns or a learned embedding.")
    embed_dim: int = Field(0, ge=0, description="Embedding width for input_kind `embed`; must be 0 for `onehot`.")
    dtype: Literal["float32", "float64"] = Field("float32", description="Floating-point type of parameters and traces.")


# ----------------------------------------------------------------------------------------------
# Methods: the registry's grammar, e.g. bptt-offline, snap2-online, snap1-traces-offline; a name
# without its mode takes `method.mode`.

METHOD_FORM = f"{registry.GRAMMAR}, e.g. {', '.join(registry.EXAMPLES)}"
_MODE_SUFFIXES = tuple(f"-{mode}" for mode in registry.MODES)


def method_fields(label: str) -> dict[str, Any]:
    """"snap2-online" -> {"name": "snap", "n": 2, "mode": "online"}; the mode (and form) only when the
    label names it. Raises ConfigError (the registry's) for a name outside the grammar."""
    # Any mode parses the rest of the name; whether the label named one is read off its end.
    ident = registry.parse(label, default_mode=registry.MODES[0])
    out: dict[str, Any] = {"name": ident.family, "n": ident.n}
    if label.strip().endswith(_MODE_SUFFIXES):
        out["mode"] = ident.mode
    if ident.form is not None:
        out["form"] = ident.form
    return out


def _method_from_label(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return method_fields(value)
    except ConfigError as err:
        raise _spec_error(err.message, f"{err.fix}; or a mapping {{name, n, mode}}")


class Method(BaseModel):
    """The gradient method, fixed for every trial unless `axes.methods` sweeps it."""

    model_config = SECTION

    name: MethodName = Field("snap", description="Gradient method: bptt, rtrl (exact), snap (SnAp-n), uoro, or "
                                                 "snap-numeric (the paper's Appendix-D reference: dense J masked "
                                                 "numerically by |I_t| > 0).")
    n: int = Field(1, ge=1, description="SnAp order n (snap only; other methods take no order).")
    mode: Mode = Field("offline", description="`offline`: one update per window; `online`: one update per time step.")
    form: Optional[Form] = Field(None, description="Offline SnAp-1 only: `cut` (the default: backward through the "
                                                   "window with D cut to its diagonal) or `traces` (forward traces).")


class MethodChoice(BaseModel):
    """One entry of `axes.methods`: the fields it names replace those of the `method` section."""

    model_config = SECTION

    name: MethodName = Field(description="Gradient method: bptt, rtrl, snap, uoro or snap-numeric.")
    n: Optional[int] = Field(None, ge=1, description="SnAp order n (snap only); unset takes `method.n`.")
    mode: Optional[Mode] = Field(None, description="Update mode; unset takes `method.mode`.")
    form: Optional[Form] = Field(None, description="Offline SnAp-1 form (cut or traces); unset takes `method.form` "
                                                   "where it applies.")


# Either form is accepted where a method is expected; the schema says so for editors.
MethodSpec = Annotated[Method, BeforeValidator(_method_from_label, json_schema_input_type=Union[str, Method])]
MethodEntry = Annotated[MethodChoice, BeforeValidator(_method_from_label, json_schema_input_type=Union[str, MethodChoice])]


# ----------------------------------------------------------------------------------------------
# Optimiser and schedule


class Optim(BaseModel):
    """Optimiser (paper: Adam with beta1 0.9, beta2 0.999, eps 1e-8)."""

    model_config = SECTION

    name: Literal["adam", "sgd"] = Field("adam", description="Optimiser.")
    lr: LearningRate = Field(
        1e-3, description="Learning rate when `axes.lrs` does not sweep it (`10^-3` style accepted)."
    )
    b1: float = Field(0.9, ge=0, lt=1, description="Adam beta1.")
    b2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")
    clip_norm: Optional[float] = Field(
        None, gt=0, description="Clip the global gradient norm to this value; null disables clipping."
    )


class Schedule(BaseModel):
    """Training length and intervals. Intervals count updates (optimizer steps)."""

    model_config = SECTION

    steps: Optional[int] = Field(None, ge=1, description="Updates per trial. Give exactly one of steps and tokens.")
    tokens: Optional[int] = Field(
        None, ge=1,
        description="Training tokens per trial, converted to updates: batch*crop tokens per offline LM update, "
                    "batch per online update (rounded up). Give exactly one of steps and tokens.",
    )
    log_every: int = Field(100, ge=1, description="Log training metrics every this many updates.")
    eval_every: int = Field(1000, ge=0, description="Evaluate every this many updates; 0 evaluates only at the end.")
    probe_every: int = Field(0, ge=0, description="Gradient-fidelity probe against the exact gradient every this many "
                                                 "updates; 0 disables it.")
    checkpoint_every: int = Field(1000, ge=0, description="Checkpoint every this many updates; 0 only at the end.")
    divergence_factor: Optional[float] = Field(
        10.0, gt=1, allow_inf_nan=False,
        description="A member whose mean training loss over one log interval exceeds this factor times the task's "
                    "trivial loss (a uniform predictor: log2(vocab) bits per scored token, 2 for copy, 8 for "
                    "bytes) is marked diverged and stops training; null switches the rule off (non-finite "
                    "values still count).",
    )


# ----------------------------------------------------------------------------------------------
# Axes


class Axes(BaseModel):
    """Lists expanded as a full grid (cartesian product). An omitted axis uses the single fixed value of its
    section (`method`, `model.cell`, `model.density`, `optim.lr`, `seed`, `model.hidden`)."""

    model_config = SECTION

    methods: Optional[list[MethodEntry]] = Field(
        None, min_length=1,
        description=f"Gradient methods to sweep, each {METHOD_FORM} or a mapping {{name, n, mode}}; "
                    "what an entry does not name (n, mode, form) comes from the `method` section.",
    )
    cells: Optional[list[CellName]] = Field(None, min_length=1, description="Cells to sweep (replaces model.cell).")
    densities: Optional[list[Density]] = Field(None, min_length=1, description="Densities to sweep (replaces model.density).")
    lrs: Optional[list[LearningRate]] = Field(None, min_length=1, description="Learning rates to sweep (replaces optim.lr).")
    seeds: Optional[list[Seed]] = Field(None, min_length=1, description="Seeds to sweep (replaces seed).")
    hiddens: Optional[list[Hidden]] = Field(None, min_length=1, description="Nominal widths to sweep (replaces model.hidden).")


# ----------------------------------------------------------------------------------------------
# Platform sections: how trials run, not what they compute (they never enter a trial id).


class Resources(BaseModel):
    """Resources of one Ray Tune trial (one pack of members)."""

    model_config = SECTION

    cpu: float = Field(1.0, gt=0, description="CPUs per trial (fractions allowed).")
    gpu: float = Field(0.0, ge=0, description="GPUs per trial; fractions below 1 share a GPU, above 1 must be whole.")
    tpu: int = Field(0, ge=0, description="TPU chips per trial.")
    memory: Optional[MemorySize] = Field(
        None, ge=1, description="Memory per trial in bytes, or a size like `4GiB`; null leaves it to Ray."
    )

    @property
    def devices(self) -> int:
        """Local devices a trial holds, over which its pack's members are sharded: the TPU chips,
        or the whole GPUs (a fractional GPU share is one device)."""
        return self.tpu or max(1, int(self.gpu))


class Packing(BaseModel):
    """Trials that differ only in seed and learning rate run vmapped in one program, one MLflow run each."""

    model_config = SECTION

    enabled: bool = Field(True, description="Pack trials with identical settings apart from seed and lr.")
    max_members: int = Field(12, ge=1, description="Most trials in one pack.")

    @property
    def limit(self) -> int:
        """Members per pack to pass to `spec.packs`: 1 when packing is disabled."""
        return self.max_members if self.enabled else 1


def _setting(check: Callable[[str], str]) -> Callable[[Optional[str]], Optional[str]]:
    """A `snapsweep.settings` shape check as a field validator (its ConfigError becomes a spec error)."""
    def validate(value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        try:
            return check(value)
        except ConfigError as err:
            raise _spec_error(err.message, err.fix or "see `snapsweep schema`")

    return validate


def _path_component(value: Optional[str]) -> Optional[str]:
    # Names end up in paths (report directories, artifact paths): one plain component, nothing that
    # climbs out of the storage root or ends a C string.
    if value is None:
        return None
    bad = next((c for c in ("\0", "/", "\\") if c in value), None)
    if bad is not None or value in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in value):
        what = f"contains {bad!r}" if bad else "is a path, not a name" if value in (".", "..") else \
            "contains a control character"
        raise _spec_error(f"{_shown(value)} {what}", "use letters, digits, spaces, - _ . (no / or ..)")
    return value


class Tracking(BaseModel):
    """Where MLflow runs go."""

    model_config = SECTION

    uri: Annotated[Optional[str], AfterValidator(_setting(settings.check_tracking_uri))] = Field(
        None, repr=False,
        description="MLflow tracking URI; --tracking-uri overrides it; null: MLFLOW_TRACKING_URI when set, else the "
                    "embedded default sqlite:///mlflow.db in the working directory. `http://user:password@host:port` "
                    "gives credentials (or set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD); they are never "
                    "written back (the resolved spec, hash and run records hold the URI without them).",
    )
    experiment: Annotated[Optional[str], AfterValidator(_path_component)] = Field(
        None, min_length=1, max_length=256, description="MLflow experiment name (no `/` or `..`); null: the spec name."
    )
    outage_wait_s: float = Field(
        1800.0, ge=0, le=7 * 24 * 3600,
        description="Seconds a pack that finished training during a tracking-server outage waits for the server "
                    "to return (a line every 30 s), then sends what it queued and ends its runs FINISHED; past "
                    "this the pack fails and a re-run sends them. Training itself never waits: every MLflow "
                    "operation of a trial is journaled on the local disk and replayed in order.",
    )

    @field_serializer("uri")
    def _without_credentials(self, uri: Optional[str]) -> Optional[str]:
        return None if uri is None else settings.split_credentials(uri)[0]


class Storage(BaseModel):
    """Where Ray Tune keeps trial checkpoints and results."""

    model_config = SECTION

    path: Annotated[Optional[str], AfterValidator(_setting(settings.check_storage))] = Field(None, description="Ray Tune storage path (a directory, NFS, s3:// or gs://); "
                                                  "--storage overrides it; null: SNAPSWEEP_STORAGE when set, else "
                                                  "./snapsweep-runs in the working directory.")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept per trial (the newest ones).")


class Retries(BaseModel):
    """What happens when a trial fails."""

    model_config = SECTION

    max_failures: int = Field(2, ge=0, description="Restarts of a failed trial from its last checkpoint.")


# ----------------------------------------------------------------------------------------------
# Top level


class TrialSpec(BaseModel):
    """The settings of one trial: what `snapsweep train --config` reads, and the fixed part of a sweep."""

    model_config = SECTION

    task: Task = Field(description="The task and its data.")
    model: Model = Field(default_factory=Model, description="The recurrent network.")
    method: MethodSpec = Field(default_factory=Method, description=f"The gradient method ({METHOD_FORM}, or a mapping).")
    optim: Optim = Field(default_factory=Optim, description="The optimiser.")
    schedule: Schedule = Field(description="How long to train (steps or tokens) and how often to log, evaluate, "
                                           "probe and checkpoint.")
    seed: Seed = Field(0, description="Seed when `axes.seeds` does not sweep it.")
    trace_budget: MemorySize = Field(
        costs.TRACE_BUDGET_BYTES, ge=1,
        description="Per-example bytes of method state (traces) above which a method is refused, in bytes or a "
                    f"size like `1GiB`, `512MiB` (default {costs.TRACE_BUDGET_BYTES // 2**30} GiB: 16 GiB of traces "
                    "at batch 16).",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `axes:` with every entry commented out reads as null: that means "all defaults", not an error.
        if isinstance(data, dict):
            return {key: value for key, value in data.items()
                    if not (value is None and key in cls.model_fields
                            and cls.model_fields[key].default_factory is not None)}
        return data

    @model_validator(mode="after")
    def _check(self) -> "TrialSpec":
        from snapsweep.spec.checks import raise_problems, trial_problems

        raise_problems(trial_problems(self))
        return self


class SweepSpec(TrialSpec):
    """A sweep: fixed settings, axes expanded as a grid, and how to run, track and store the trials."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Sweep name, a slug (lowercase letters, digits, - and _); the default MLflow experiment.",
    )
    description: str = Field("", description="Free text shown with the sweep.")
    axes: Axes = Field(default_factory=Axes, description="Lists expanded as a grid; omitted axes use the fixed value.")
    resources: Resources = Field(default_factory=Resources, description="Resources of one Ray Tune trial (one pack).")
    packing: Packing = Field(default_factory=Packing, description="Vmapping trials that differ only in seed and lr.")
    tracking: Tracking = Field(default_factory=Tracking, description="MLflow tracking.")
    storage: Storage = Field(default_factory=Storage, description="Ray Tune storage and checkpoint retention.")
    retries: Retries = Field(default_factory=Retries, description="Failure handling.")

    @model_validator(mode="after")
    def _check(self) -> "SweepSpec":
        from snapsweep.spec.checks import raise_problems, sweep_problems

        raise_problems(sweep_problems(self))
        if self.tracking.experiment is None:
            self.tracking.experiment = self.name
        return self


# Sections of a sweep spec that a single trial does not have; `snapsweep train --config sweep.yaml`
# drops them so a sweep spec's fixed sections work as a train config.
SWEEP_ONLY = tuple(name for name in SweepSpec.model_fields if name not in TrialSpec.model_fields)

