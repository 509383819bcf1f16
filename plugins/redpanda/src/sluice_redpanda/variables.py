"""``${VAR}`` in a ``redpanda_connect:`` block, resolved only in memory at plan and apply.

The block is kept as written when the project loads (its section keeps variables), so
compiled files never hold a secret. Redpanda Connect does not interpolate environment
variables in configs posted to its streams API, so sluice resolves them before it sends one.
``${! ... }`` is Redpanda Connect's own function interpolation and is left alone; ``$$`` is a
literal ``$``, as everywhere in a sluice project.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_KEY = re.compile(
    r"password|passwd|secret|token|api_?key|credential|authorization|private", re.I
)
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|CREDENTIAL|PRIVATE", re.I)

Path = tuple[str | int, ...]


def has_reference(text: str) -> bool:
    """Whether ``text`` holds a ``${VAR}`` (not only ``$$`` or ``${! ... }``)."""
    return any(match.group(1) for match in _REFERENCE.finditer(text))


@dataclass
class Resolved:
    """A config with its references resolved, and what resolving them found."""

    config: Any
    referenced: set[Path] = field(default_factory=set)  # leaves whose text had a reference
    secrets: list[str] = field(default_factory=list)  # values to mask in every output
    missing: list[str] = field(default_factory=list)


def resolve(config: Any, variables: Mapping[str, str]) -> Resolved:
    """``config`` with every ``${VAR}`` and ``${VAR:-default}`` replaced."""
    result = Resolved(None)
    result.config = _walk(config, (), variables, result)
    result.missing = sorted(set(result.missing))
    return result


def _walk(value: Any, path: Path, variables: Mapping[str, str], result: Resolved) -> Any:
    if isinstance(value, Mapping):
        return {k: _walk(v, (*path, k), variables, result) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), variables, result) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    secret_key = any(isinstance(p, str) and SECRET_KEY.search(p) for p in path[-1:])

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        found = variables.get(name)
        if found is None or (default is not None and found == ""):
            if default is None:
                result.missing.append(name)
                return ""
            return default
        result.referenced.add(path)
        if secret_key or _SECRET_NAME.search(name):
            result.secrets.append(found)
        return found

    return _REFERENCE.sub(replace, value)


MISSING = object()  # what value_at finds where a tree has nothing


def value_at(tree: Any, path: Path) -> Any:
    """The value at ``path`` of a tree of mappings and lists, or :data:`MISSING`."""
    for part in path:
        in_list = isinstance(tree, list) and isinstance(part, int) and 0 <= part < len(tree)
        if not in_list and not (isinstance(tree, Mapping) and part in tree):
            return MISSING
        tree = tree[part]
    return tree


def leaves(value: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    """Every scalar of a config tree with its path (an empty mapping or list is a leaf)."""
    if isinstance(value, Mapping) and value:
        return [leaf for k, v in value.items() for leaf in leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, (*path, i))]
    return [(path, value)]


def dotted(path: Path) -> str:
    """``("output", "http_client", "headers", 0)`` -> ``output.http_client.headers[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
