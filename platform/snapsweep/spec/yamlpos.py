"""YAML with positions: parse a document and keep, for every key and list item, where it came from.

PyYAML's composer gives a node tree with marks; we refuse duplicate keys there (PyYAML keeps the
last one silently), then construct plain data from the same tree. `Origins` mirrors the data's
shape and answers "which line does this Pydantic error location point at". An origin is a line
number, or a label such as "--lr" for a value that came from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from snapsweep.errors import SpecError

Origin = Union[int, str]


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


def parse(text: str, filename: str) -> tuple[Any, Origins]:
    """YAML text -> (data, origins). Raises one SpecError with file:line for any YAML problem."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Origins(1)
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
    except yaml.YAMLError as err:  # unmarked (e.g. a reader error on a control character)
        raise SpecError(f"invalid YAML: {err}", where=f"{filename}:1", fix="save the file as plain UTF-8 text") from None
    finally:
        loader.dispose()
