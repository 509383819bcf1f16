"""Reading YAML while remembering where every key and value came from.

Errors must name file, line and column, so a YAML file is read into plain Python values plus a
table of positions keyed by the path of each value (``("models", 0, "sql")``). Duplicate keys are
an error: silently keeping the last one is how keys get lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from sluice.errors import Location, ProjectError

try:  # the C loader is several times faster; fall back where libyaml is missing
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

YamlPath = tuple[str | int, ...]


class Position(NamedTuple):
    line: int
    column: int
    block: bool = False  # a literal/folded block scalar: its text starts on the next line
    text_column: int | None = None  # for scalars: the column where the text itself starts


@dataclass
class YamlDocument:
    """The values of one YAML file and where each of them is."""

    file: str
    data: Any
    positions: dict[YamlPath, Position] = field(default_factory=dict)

    def locate(self, path: YamlPath) -> Location:
        """The location of ``path``, or of its closest known parent."""
        while path and path not in self.positions:
            path = path[:-1]
        pos = self.positions.get(path)
        if pos is None:
            return Location(self.file)
        return Location(self.file, pos.line, pos.column)

    def text_start(self, path: YamlPath) -> int:
        """The line where a scalar's text starts (the line after ``|`` for a block scalar)."""
        pos = self.positions.get(path)
        if pos is None:
            return 1
        return pos.line + 1 if pos.block else pos.line

    def text_column(self, path: YamlPath) -> int:
        """The column of a scalar's first character (a block scalar's indentation + 1)."""
        pos = self.positions.get(path)
        return pos.text_column or 1 if pos is not None else 1

    def __getstate__(self) -> dict[str, Any]:
        # The compile cache keeps documents. Positions go as plain tuples: pickle handles
        # those natively, a NamedTuple through a Python call each (most of the cache's time).
        return {**self.__dict__, "positions": {k: tuple(v) for k, v in self.positions.items()}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.positions = {k: Position(*v) for k, v in state["positions"].items()}


def read_yaml(path: Path, display: str) -> YamlDocument:
    """Read ``path`` (shown to users as ``display``) into a :class:`YamlDocument`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(
            f"file is not UTF-8 text ({exc.reason})", location=Location(display)
        ) from None
    return parse_yaml(text, display)


def parse_yaml(text: str, display: str) -> YamlDocument:
    """Parse YAML text into a :class:`YamlDocument` (positions are 1-based)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ProjectError(
            f"invalid YAML: {problem}",
            location=location,
            hint="check the indentation and that every 'key: value' pair has a space after ':'",
        ) from None
    doc = YamlDocument(display, None)
    if root is not None:
        doc.data = _convert(root, (), doc, set())
        lines = text.splitlines()
        for path, pos in doc.positions.items():
            if pos.block and pos.line < len(lines):  # the text starts on the next line
                content = lines[pos.line]
                indent = len(content) - len(content.lstrip(" "))
                doc.positions[path] = Position(pos.line, pos.column, True, indent + 1)
    return doc


_constructor = yaml.SafeLoader("")  # only used to turn scalar nodes into Python values


_STR = "tag:yaml.org,2002:str"


def _convert(node: yaml.Node, path: YamlPath, doc: YamlDocument, open_: set[int]) -> Any:
    """``node`` as plain values; ``open_`` holds the mappings and lists being converted around
    it (an alias to one of them would make a value that contains itself)."""
    mark = node.start_mark
    if isinstance(node, yaml.ScalarNode):
        block = node.style in ("|", ">")
        # where the text itself starts: after a quote; a block scalar's is set in parse_yaml
        text_column = None if block else mark.column + (2 if node.style in ("'", '"') else 1)
        doc.positions[path] = Position(mark.line + 1, mark.column + 1, block, text_column)
        # plain strings are most scalars of a project; skip the generic constructor for them
        if node.tag == _STR:
            return node.value
        return _constructor.construct_object(node)
    doc.positions[path] = Position(mark.line + 1, mark.column + 1)
    if id(node) in open_:
        raise ProjectError(
            "a YAML alias refers to the mapping or list that contains it",
            location=Location(doc.file, mark.line + 1, mark.column + 1),
            hint="an alias (*name) may repeat a value defined earlier, not one around it",
        )
    open_.add(id(node))
    try:
        return _convert_collection(node, path, doc, open_)
    finally:
        open_.discard(id(node))


def _convert_collection(node: yaml.Node, path: YamlPath, doc: YamlDocument, open_: set[int]) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = (
                key_node.value if key_node.tag == _STR else _constructor.construct_object(key_node)
            )
            if key == "<<":
                raise ProjectError(
                    "YAML merge keys ('<<') are not supported",
                    location=Location(doc.file, key_node.start_mark.line + 1),
                    hint="write the keys out, or use defaults: for shared settings",
                )
            if key in result:
                raise ProjectError(
                    f"duplicate key '{key}'",
                    location=Location(
                        doc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1
                    ),
                    hint="a key may appear once per mapping; remove or merge the repeated one",
                )
            child = (*path, key) if isinstance(key, (str, int)) else (*path, str(key))
            result[key] = _convert(value_node, child, doc, open_)
            # the key's own position is more useful than the value's for "unknown key" errors
            key_mark = key_node.start_mark
            doc.positions[(*child, "__key__")] = Position(key_mark.line + 1, key_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), doc, open_) for index, item in enumerate(node.value)]
    return _constructor.construct_object(node)
