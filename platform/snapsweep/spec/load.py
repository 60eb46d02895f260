"""Reading, validating, hashing and writing back sweep specs."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from snapsweep.errors import SpecError
from snapsweep.spec import diagnose, yamlpos
from snapsweep.spec.checks import SpecProblems
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


def read(path: str | os.PathLike) -> tuple[str, str]:
    """(text, filename) of a spec file, or one SpecError."""
    filename = os.fspath(path)
    try:
        with open(filename, encoding="utf-8") as f:
            return f.read(), filename
    except FileNotFoundError:
        raise SpecError("spec file not found", where=filename, fix="check the path (sweeps/ holds examples)") from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", where=filename, fix="name a .yaml file") from None
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", where=filename, fix="save the spec as UTF-8") from None
    except OSError as err:
        raise SpecError(f"cannot read: {err.strerror}", where=filename, fix="check the file's permissions") from None


def load(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a sweep spec file."""
    text, filename = read(path)
    return load_text(text, filename)


def load_text(text: str, filename: str = "<spec>") -> SweepSpec:
    """Validate spec text; `filename` names it in errors and anchors relative paths (`<...>`: the cwd)."""
    data, origins = yamlpos.parse(text, filename)
    return validate(SweepSpec, data, origins, filename, base_dir_of(filename))


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
