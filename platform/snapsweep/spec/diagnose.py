"""Pydantic errors and cross-field problems -> one located, one-line `SpecError`.

Pydantic's own messages ("Input should be greater than 0") name neither the field nor the cure; here
every error gets the spec path ("axes.lrs[2]"), the file line, and a fix that names allowed values
or the field's description. With several errors the first by line is the message, plus "(+N more)";
`SpecError.problems` holds each of them, located.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, Optional, Union

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from snapsweep.errors import SpecError
from snapsweep.spec.checks import Problem, format_path
from snapsweep.spec.models import Task
from snapsweep.spec.yamlpos import Origin, Origins

# Discriminator values of tagged unions: Pydantic puts them into error locations.
TAGS = frozenset(kind for member in typing.get_args(typing.get_args(Task)[0])
                 for kind in typing.get_args(member.model_fields["kind"].annotation))


def _where(origin: Origin, filename: str) -> str:
    return f"{filename}:{origin}" if isinstance(origin, int) else str(origin)


def _order(origin: Origin) -> tuple[int, int]:
    # Command-line values first (they are what the user just typed), then by line.
    return (1, origin) if isinstance(origin, int) else (0, 0)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------------
# Walking the model classes along an error location, for descriptions and allowed keys


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin is Union:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_at(root: type[BaseModel], loc: tuple) -> tuple[Optional[type[BaseModel]], Optional[str], Optional[FieldInfo]]:
    """(model that holds the last named key, that key, its FieldInfo or None when unknown)."""
    tp: Any = root
    owner: Optional[type[BaseModel]] = None
    name: Optional[str] = None
    info: Optional[FieldInfo] = None
    for part in loc:
        tp = _unwrap(tp)
        if _is_model(tp):
            owner, name = tp, part
            info = tp.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return owner, name, None
            tp = info.annotation
        elif typing.get_origin(tp) is Union:  # a tagged union: pick the member with this tag
            members = [a for a in typing.get_args(tp) if _is_model(a) and "kind" in a.model_fields]
            match = [m for m in members if typing.get_args(m.model_fields["kind"].annotation) == (part,)]
            if not match:
                return owner, name, info
            tp = match[0]
        elif typing.get_origin(tp) is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        else:
            return owner, name, info
    return owner, name, info


def _suggest(word: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


# ----------------------------------------------------------------------------------------------


def _describe(err: dict, root: type[BaseModel]) -> tuple[str, str]:
    """(message without the path, fix) for one Pydantic error."""
    kind, loc, ctx = err["type"], err["loc"], err.get("ctx") or {}
    value = err.get("input")
    owner, name, info = _field_at(root, tuple(loc))
    about = f"; {name}: {info.description}" if info is not None and info.description else ""

    if kind == "spec":  # our own PydanticCustomError: message and fix in the context
        return ctx["message"], ctx["fix"]
    if kind == "extra_forbidden":
        allowed = sorted(owner.model_fields) if owner is not None else []
        return (f"unknown key {name!r}",
                f"{_suggest(name, allowed)}allowed keys here: {', '.join(allowed)}")
    if kind == "missing":
        return "required but missing", f"add `{name}:`{about}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        return f"{_short(value)} is not allowed", f"{_suggest(value, _literal_words(expected))}use {expected}"
    if kind == "union_tag_invalid":
        tags = _literal_words(str(ctx.get("expected_tags", "")))
        return f"unknown kind {ctx.get('tag')!r}", f"{_suggest(ctx.get('tag'), tags)}use kind: {' or '.join(tags)}"
    if kind == "union_tag_not_found":
        return "required but missing", "add `kind: copy` or `kind: wikitext`"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        fields = sorted(_unwrap(info.annotation).model_fields) if info is not None and _is_model(_unwrap(info.annotation)) else []
        keys = f"; keys: {', '.join(fields)}" if fields else ""
        return f"expected a mapping of settings, got {_short(value)}", f"write `key: value` lines under it{keys}"
    if kind == "list_type":
        return f"expected a list, got {_short(value)}", f"write a YAML list such as [a, b]{about}"
    if kind == "too_short":
        return "must not be empty", "list at least one value, or remove the axis to use the fixed setting"
    if kind == "string_pattern_mismatch":
        return f"{_short(value)} is not a valid name", "use lowercase letters, digits, - and _, e.g. my-sweep"
    if kind in ("int_type", "float_type") and isinstance(value, bool):
        # YAML reads true/false/yes/no/on/off as booleans; they are never numbers here.
        return (f"expected a number, got the boolean {str(value).lower()}",
                f"write a number{' (an integer)' if kind == 'int_type' else ''}{about}")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = err["msg"].removeprefix("Input should be ")
        return f"must be {bound}, got {_short(value)}", f"use a value {bound}{about}"
    msg = err["msg"].removeprefix("Value error, ")
    msg = msg.replace("Input should be", "expected", 1)
    return f"{msg[:1].lower()}{msg[1:]}, got {_short(value)}", f"fix the value{about}"


def _literal_words(expected: str) -> list[str]:
    return [w.strip(" '\"") for w in expected.replace(" or ", ",").split(",") if w.strip(" '\"")]


def _one(items: list[tuple[Origin, str, str]], filename: str) -> SpecError:
    items = sorted(items, key=lambda t: _order(t[0]))
    problems = [SpecError(message, where=_where(origin, filename), fix=fix) for origin, message, fix in items]
    first = problems[0]
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    return SpecError(f"{first.message}{more}", where=first.where, fix=first.fix, problems=problems)


def from_validation(exc: ValidationError, origins: Origins, filename: str, root: type[BaseModel]) -> SpecError:
    items = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc += (str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"),)  # point at `kind:`
        parts, origin = origins.locate(loc, TAGS)
        message, fix = _describe(err, root)
        items.append((origin, f"{format_path(parts)}: {message}", fix))
    return _one(items, filename)


def from_problems(problems: list[Problem], origins: Origins, filename: str) -> SpecError:
    items = []
    for p in problems:
        parts, origin = origins.locate(p.loc, TAGS)
        items.append((origin, f"{format_path(parts)}: {p.message}", p.fix))
    return _one(items, filename)
