"""YAML with positions: parse a document and keep, for every key and list item, where it came from.

PyYAML's composer gives a node tree with marks; we refuse duplicate keys there (PyYAML keeps the
last one silently), then construct plain data from the same tree. `Origins` mirrors the data's
shape and answers "which line does this Pydantic error location point at". An origin is a line
number, or a label such as "--lr" for a value that came from the command line.

A spec is plain data from whoever wrote it, so the parser is guarded (each limit refused as one
located line, quickly): safe loading only, and only the standard tags (no `!!python/...`, nothing
that constructs objects); nesting at most `MAX_DEPTH` deep; at most `MAX_NODES` values once aliases
are expanded (an alias-expansion bomb is tiny as text and billions of values as data); no alias
inside the value it names; no numbers of more than `MAX_NUMBER_CHARS` characters; no control
characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from snapsweep.errors import SpecError

Origin = Union[int, str]

MAX_DEPTH = 32  # a spec is four levels deep; anything near this is not a spec
MAX_NODES = 100_000  # values after alias expansion: a spec has a few hundred
MAX_NUMBER_CHARS = 64  # a float64 needs 25; more digits than this is a mistake, not a setting
_STANDARD = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(f"{_STANDARD}{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge"))
_NUMBER_TAGS = (f"{_STANDARD}int", f"{_STANDARD}float")


@dataclass
class Origins:
    """Where a value and its children came from. `keys`/`items` hold (origin, child) pairs."""

    origin: Origin
    keys: dict[Any, tuple[Origin, "Origins"]] = field(default_factory=dict)
    items: list[tuple[Origin, "Origins"]] = field(default_factory=list)

    def locate(self, loc: tuple, tags: frozenset = frozenset()) -> tuple[list, Origin]:
        """Map an error location to (path parts, origin of the deepest part that exists).

        Pydantic inserts union tags into locations (("task", "copy", "batch")); a component in `tags`
        that is not a key of the mapping at hand, with more components after it, is dropped.
        A missing or unknown key stays in the path but the origin is its parent's.
        """
        node: Optional[Origins] = self
        origin: Origin = self.origin
        parts: list = []
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if node is None:  # below a scalar: keep naming the path, the origin stays
                parts.append(part)
                continue
            if isinstance(part, int) and node.items and 0 <= part < len(node.items):
                origin, node = node.items[part]
                parts.append(part)
            elif not isinstance(part, int) and part in node.keys:
                origin, node = node.keys[part]
                parts.append(part)
            elif part in tags and not last:
                continue  # a union tag
            else:
                parts.append(part)
                node = None
        return parts, origin

    def set(self, path: tuple, origin: Origin) -> None:
        """Record that the value at `path` (mapping keys only) now comes from `origin`."""
        node = self
        for key in path[:-1]:
            if key not in node.keys:
                node.keys[key] = (origin, Origins(origin))
            node = node.keys[key][1]
        node.keys[path[-1]] = (origin, Origins(origin))


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _key_text(node: Node) -> Any:
    return node.value if isinstance(node, ScalarNode) else f"<{node.tag}>"


def _check_duplicates(node: Node, filename: str, path: str = "") -> None:
    if isinstance(node, MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key == "<<":  # YAML merge key: several are legal
                continue
            child = f"{path}.{key}" if path else str(key)
            if key in seen:
                raise SpecError(f"{child}: duplicate key (first at line {seen[key]})",
                                where=f"{filename}:{_line(key_node)}", fix="keep one of the two entries")
            seen[key] = _line(key_node)
            _check_duplicates(value_node, filename, child)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, filename, f"{path}[{i}]")


def _origins(node: Node) -> Origins:
    out = Origins(_line(node))
    if isinstance(node, MappingNode):
        # After construction merge keys are flattened into node.value; later entries win, as in the data.
        for key_node, value_node in node.value:
            out.keys[_key_text(key_node)] = (_line(key_node), _origins(value_node))
    elif isinstance(node, SequenceNode):
        out.items = [(_line(item), _origins(item)) for item in node.value]
    return out


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the limits above enforced while the node tree is composed."""

    def __init__(self, text: str, filename: str):
        super().__init__(text)
        self.filename = filename
        self._depth = 0
        self._open: set[str] = set()  # anchors whose value is being composed

    def _refuse(self, message: str, mark, fix: str) -> None:
        raise SpecError(message, where=f"{self.filename}:{mark.line + 1}", fix=fix)

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self._open:
                self._refuse(f"alias *{event.anchor} is used inside the value it names (a recursive structure)",
                             event.start_mark, "write the value out instead of referring to itself")
            return super().compose_node(parent, index)
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in ALLOWED_TAGS:
            self._refuse(f"the tag {tag!r} is not allowed: a spec is plain data (strings, numbers, booleans, "
                         "lists, mappings)", event.start_mark, "remove the tag")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse(f"nested more than {MAX_DEPTH} levels deep", event.start_mark,
                         "a spec is a few levels of sections; flatten this value")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)
        if isinstance(node, ScalarNode) and _CONTROL.search(node.value):  # written as an escape, "\0"
            self._refuse(f"a string holds the control character U+{ord(_CONTROL.search(node.value).group()):04X}",
                         node.start_mark, "remove the escape; a spec is plain text")
        if isinstance(node, ScalarNode) and node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            self._refuse(f"a number of {len(node.value)} characters (at most {MAX_NUMBER_CHARS})", node.start_mark,
                         "write the value in exponent form, e.g. 1.0e12, or as a size like 4GiB")
        return node


def expanded_size(node: Node) -> int:
    """How many values the node stands for once every alias is expanded (shared nodes counted each
    time they are used). Memoised per node, so a bomb is priced without being expanded."""
    sizes: dict[int, int] = {}

    def size(n: Node) -> int:
        known = sizes.get(id(n))
        if known is not None:
            return known
        if isinstance(n, MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, SequenceNode):
            total = 1 + sum(size(item) for item in n.value)
        else:
            total = 1
        sizes[id(n)] = total
        return total

    return size(node)


# C0 controls but tab and line breaks, DEL, and the C1 controls: never part of a spec's text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_characters(text: str, filename: str) -> None:
    """Refuse NUL and other control characters with their line."""
    match = _CONTROL.search(text)
    if match is not None:
        line = text.count("\n", 0, match.start()) + 1
        raise SpecError(f"contains the control character U+{ord(match.group()):04X}", where=f"{filename}:{line}",
                        fix="remove it; a spec is plain UTF-8 text")


def parse(text: str, filename: str) -> tuple[Any, Origins]:
    """YAML text -> (data, origins). Raises one SpecError with file:line for any YAML problem."""
    check_characters(text, filename)
    loader = _GuardedLoader(text, filename)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Origins(1)
        count = expanded_size(node)
        if count > MAX_NODES:
            raise SpecError(f"expands to {count:,} values once aliases are expanded (at most {MAX_NODES:,})",
                            where=f"{filename}:{_line(node)}",
                            fix="write the values out; aliases that refer to aliases multiply")
        _check_duplicates(node, filename)
        data = loader.construct_document(node)
        return data, _origins(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(s for s in (err.context, err.problem) if s)
        opened = err.context_mark
        if opened is not None and err.context and err.context.startswith("while parsing a flow") \
                and opened.line + 1 != line:
            # An unclosed bracket is noticed lines later; say where it was opened.
            what += f" ({err.context.removeprefix('while parsing a ')} opened at line {opened.line + 1})"
        raise SpecError(f"invalid YAML: {what}", where=f"{filename}:{line}",
                        fix="check indentation, colons and quoting on this line or the one above") from None
    except yaml.reader.ReaderError as err:  # a character YAML does not accept
        line = text.count("\n", 0, err.position) + 1
        code = ord(err.character) if isinstance(err.character, str) else err.character
        raise SpecError(f"invalid YAML: character U+{code:04X} is not allowed", where=f"{filename}:{line}", fix="save the file as plain UTF-8 text") from None
    except yaml.YAMLError as err:  # unmarked
        raise SpecError(f"invalid YAML: {' '.join(str(err).split())}", where=f"{filename}:1",
                        fix="save the file as plain UTF-8 text") from None
    finally:
        loader.dispose()
