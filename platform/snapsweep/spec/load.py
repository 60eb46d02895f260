"""Reading, validating, hashing and writing back sweep specs."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from snapsweep.errors import SpecError
from snapsweep.spec import diagnose, yamlpos
from snapsweep.spec.checks import SpecProblems, data_problems
from snapsweep.spec.models import SweepSpec

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, origins: yamlpos.Origins, filename: str, base_dir: str) -> M:
    """Validate plain data; every failure becomes one SpecError located through `origins`."""
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"a spec is a mapping of sections (task, model, method, ...), got {got}",
                        where=f"{filename}:{origins.origin}", fix="start from sweeps/smoke.yaml")
    try:
        return model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise diagnose.from_validation(exc, origins, filename, model) from None
    except SpecProblems as exc:
        raise diagnose.from_problems(exc.problems, origins, filename) from None


def base_dir_of(filename: str) -> str:
    """Relative paths in a spec start at its directory; specs without a file start at the cwd."""
    if filename.startswith("<"):
        return os.getcwd()
    return os.path.dirname(os.path.abspath(filename))


# A spec is a few kilobytes; a file far larger is a mistake (or hostile), refused before it is read.
MAX_SPEC_BYTES = 1 << 20


def _too_large(size: int, where: str) -> SpecError:
    return SpecError(f"is {size:,} bytes; a spec is at most {MAX_SPEC_BYTES:,} bytes (1 MiB)", where=where,
                     fix="name the YAML spec, not a data file")


def decode(data: bytes, filename: str) -> str:
    """UTF-8 bytes -> text, or one SpecError naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise SpecError(f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})",
                        where=f"{filename}:{line}", fix="save the spec as UTF-8") from None


def read(path: str | os.PathLike) -> tuple[str, str]:
    """(text, filename) of a spec file, or one SpecError: missing, not a regular file, over
    `MAX_SPEC_BYTES` (read no further than that: a device or a pipe never ends), not UTF-8."""
    filename = os.fspath(path)
    if "\0" in filename:
        raise SpecError("the path contains a NUL character", where=repr(filename), fix="check the path")
    try:
        with open(filename, "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) or stat.S_ISSOCK(info.st_mode):
                raise SpecError("is a device, not a spec file", where=filename, fix="name a .yaml file")
            data = f.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError("spec file not found", where=filename, fix="check the path (sweeps/ holds examples)") from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", where=filename, fix="name a .yaml file") from None
    except OSError as err:
        raise SpecError(f"cannot read: {err.strerror}", where=filename, fix="check the file's permissions") from None
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(max(len(data), info.st_size), filename)
    return decode(data, filename), filename


def load(path: str | os.PathLike, *, check_data: bool = False) -> SweepSpec:
    """Read and validate a sweep spec file; `check_data`: also refuse data that cannot be had here
    (a hub dataset with the hub unreachable), as `validate`, `plan` and `run` do."""
    text, filename = read(path)
    return load_text(text, filename, check_data=check_data)


def load_text(text: str, filename: str = "<spec>", *, check_data: bool = False) -> SweepSpec:
    """Validate spec text; `filename` names it in errors and anchors relative paths (`<...>`: the cwd)."""
    if len(text) > MAX_SPEC_BYTES:  # characters: at least as many bytes
        raise _too_large(len(text.encode("utf-8", "surrogatepass")), filename)
    data, origins = yamlpos.parse(text, filename)
    sweep = validate(SweepSpec, data, origins, filename, base_dir_of(filename))
    problems = data_problems(sweep) if check_data else []
    if problems:
        raise diagnose.from_problems(problems, origins, filename)
    return sweep


def check_data(sweep: SweepSpec) -> None:
    """For a spec object without a file: raise one SpecError if its data cannot be had here."""
    problems = data_problems(sweep)
    if problems:
        raise diagnose.from_problems(problems, yamlpos.Origins("spec"), "spec")


def json_schema() -> dict:
    """JSON Schema of the sweep spec format (every field described)."""
    return SweepSpec.model_json_schema()


def canonical_json(value: Any) -> str:
    # Sorted keys and repr-exact floats: the same settings always give the same bytes.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def digest(value: Any, length: int) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def spec_hash(sweep: SweepSpec) -> str:
    """Stable content hash (16 hex digits) of the resolved spec, platform sections included."""
    return digest(sweep.model_dump(mode="json"), 16)


# Section order of the written spec: what it is, what it computes, then how it runs.
_ORDER = ("name", "description", "task", "model", "method", "optim", "schedule", "seed", "axes",
          "resources", "packing", "tracking", "storage", "retries")


def resolved_yaml(sweep: SweepSpec) -> str:
    """The spec with every default filled in, as YAML that `load_text` reads back to the same hash."""
    data = sweep.model_dump(mode="json")
    # Unused axes and unnamed method fields (null: "take the fixed value") are noise here.
    axes = {k: v for k, v in data["axes"].items() if v is not None}
    if "methods" in axes:
        axes["methods"] = [{k: v for k, v in m.items() if v is not None} for m in axes["methods"]]
    data["axes"] = axes
    ordered = {key: data[key] for key in _ORDER if key in data}
    ordered.update((key, value) for key, value in data.items() if key not in ordered)
    header = f"# resolved by snapsweep; spec hash {spec_hash(sweep)}\n"
    return header + yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
