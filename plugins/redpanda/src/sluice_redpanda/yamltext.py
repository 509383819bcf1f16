"""A stream config as YAML text, with the path of what each line holds.

Redpanda Connect's streams API takes a config as JSON or YAML and answers a bad one with
``{"linting_errors": ["line 12: field verb not recognised", ...]}``: lines of the text it was
sent. sluice sends YAML it wrote itself, one key or list item per line, and keeps which path
is on which line, so each lint error can be pinned to a field of the model's block. Scalars
are written as JSON, which YAML reads as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

Path = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# "line 12: field verb not recognised" (the streams API), or "(12,5) ..." as newer linters say
_LINT = re.compile(r"^\s*(?:line\s+(\d+)|\((\d+),\s*\d+\))\s*:?\s*(.*)$", re.S)


def to_yaml(config: Mapping[str, Any]) -> tuple[str, dict[int, Path]]:
    """The YAML text of ``config`` and, for each 1-based line, the path it holds."""
    lines: list[str] = []
    paths: dict[int, Path] = {}
    _mapping(config, (), 0, lines, paths)
    return "\n".join(lines) + "\n", paths


def _key(key: Any) -> str:
    text = str(key)
    return text if _PLAIN_KEY.match(text) else json.dumps(text)


def _scalar(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value)


def _add(lines: list[str], paths: dict[int, Path], text: str, path: Path) -> None:
    lines.append(text)
    paths[len(lines)] = path


def _mapping(
    value: Mapping[str, Any],
    path: Path,
    indent: int,
    lines: list[str],
    paths: dict[int, Path],
    first_prefix: str | None = None,
) -> None:
    for index, (key, item) in enumerate(value.items()):
        # the first key of a list item shares the "- " line
        lead = first_prefix if index == 0 and first_prefix is not None else " " * indent
        _entry(f"{lead}{_key(key)}:", item, (*path, key), indent + 2, lines, paths)


def _entry(
    head: str, item: Any, path: Path, indent: int, lines: list[str], paths: dict[int, Path]
) -> None:
    if isinstance(item, Mapping) and item:
        _add(lines, paths, head, path)
        _mapping(item, path, indent, lines, paths)
    elif isinstance(item, list) and item:
        _add(lines, paths, head, path)
        _sequence(item, path, indent, lines, paths)
    else:
        _add(lines, paths, f"{head} {_scalar(item)}", path)


def _sequence(
    items: list[Any], path: Path, indent: int, lines: list[str], paths: dict[int, Path]
) -> None:
    pad = " " * indent
    for index, item in enumerate(items):
        here = (*path, index)
        if isinstance(item, Mapping) and item:
            _mapping(item, here, indent + 2, lines, paths, first_prefix=f"{pad}- ")
        elif isinstance(item, list) and item:
            _add(lines, paths, f"{pad}-", here)
            _sequence(item, here, indent + 2, lines, paths)
        else:
            _add(lines, paths, f"{pad}- {_scalar(item)}", here)


def lint_lines(lints: list[str], paths: Mapping[int, Path]) -> list[tuple[Path | None, str]]:
    """Each lint error as (the path on its line, what is wrong); (None, text) when the line
    cannot be told."""
    found: list[tuple[Path | None, str]] = []
    for lint in lints:
        match = _LINT.match(lint)
        if match is None:
            found.append((None, lint.strip()))
            continue
        line = int(match.group(1) or match.group(2))
        found.append((paths.get(line), match.group(3).strip()))
    return found
