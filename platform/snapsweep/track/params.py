"""Resolved settings as MLflow parameters: a flat mapping of dotted keys to strings.

MLflow parameters are immutable strings with length limits; nested settings (`TrainConfig.to_dict()`)
become `task.kind`, `model.hidden`, ... so the UI can filter and compare on every field. A method is
one parameter, `method`, holding the registry's canonical name (`snap2-online`), so parallel
coordinates and filters show every method on one axis; the axes of a sweep are its parent run's
parameters (`sweep_params`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Optional

from snapsweep.rtrl.registry import MethodId

# mlflow.utils.validation limits (3.x); values past them are cut rather than failing the run.
MAX_KEY = 250
MAX_VALUE = 6000


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"a": {"b": 1}, "c": [1, 2]}` -> `{"a.b": "1", "c": "[1, 2]"}`; dataclasses are expanded."""
    out: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, MethodId):
            value = value.name
        elif isinstance(value, Mapping) and set(value) == {f.name for f in dataclasses.fields(MethodId)}:
            value = MethodId(**value).name  # a MethodId already turned into a dict (dataclasses.asdict)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[name[:MAX_KEY]] = _text(value)
    return out


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


# Trial axes that become parent parameters, in the order the UI lists them.
SWEEP_AXES = ("method", "lr", "seed", "cell", "density", "hidden")


def sweep_params(trials: Iterable[Any]) -> dict[str, str]:
    """The grid of a sweep as parent-run parameters: each axis's values, comma-separated, in grid
    order (`method`: "bptt-offline,snap1-online", `lr`: "0.003,0.01", ...); `trials` are
    `snapsweep.spec.Trial`s (duck-typed: `.axes`)."""
    values: dict[str, list[str]] = {axis: [] for axis in SWEEP_AXES}
    count = 0
    for trial in trials:
        count += 1
        for axis in SWEEP_AXES:
            value = (getattr(trial, "axes", None) or {}).get(axis)
            if value is not None and str(value) not in values[axis]:
                values[axis].append(str(value))
    out = {f"sweep.{axis}": _text(",".join(v)) for axis, v in values.items() if v}
    if count:
        out["sweep.trials"] = str(count)
    return out


def spec_params(resolved_yaml: str) -> Optional[dict[str, str]]:
    """`sweep_params` of a resolved spec's grid; None when the text is not a sweep spec."""
    from snapsweep import spec
    from snapsweep.errors import SnapsweepError

    try:
        return sweep_params(spec.expand(spec.load_text(resolved_yaml)))
    except SnapsweepError:
        return None
