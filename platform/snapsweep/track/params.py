"""Resolved settings as MLflow parameters: a flat mapping of dotted keys to strings.

MLflow parameters are immutable strings with length limits; nested settings (`TrainConfig.to_dict()`)
become `task.kind`, `model.hidden`, ... so the UI can filter and compare on every field.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

# mlflow.utils.validation limits (3.x); values past them are cut rather than failing the run.
MAX_KEY = 250
MAX_VALUE = 6000


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"a": {"b": 1}, "c": [1, 2]}` -> `{"a.b": "1", "c": "[1, 2]"}`; dataclasses are expanded."""
    out: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
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
