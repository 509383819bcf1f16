"""Parsed results reused across compiles, keyed by content hashes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sluice.render import Rendered


@dataclass
class CompileCache:
    """Parsed results reused across compiles, keyed by content hashes.

    ``prune`` drops what the last compile did not use, so the cache never outgrows the project.
    """

    layout: int = 4  # bumped whenever the cached values change shape
    yaml: dict[str, Any] = field(default_factory=dict)
    renders: dict[str, Rendered] = field(default_factory=dict)
    analyses: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def get(self, table: dict[str, Any], key: str) -> Any:
        self.used.add(key)
        return table.get(key)

    def put(self, table: dict[str, Any], key: str, value: Any) -> None:
        self.used.add(key)
        table[key] = value

    def prune(self, yaml_keys: set[str]) -> None:
        self.yaml = {k: v for k, v in self.yaml.items() if k in yaml_keys}
        self.renders = {k: v for k, v in self.renders.items() if k in self.used}
        self.analyses = {k: v for k, v in self.analyses.items() if k in self.used}
        self.used = set()


def content_key(*parts: str) -> str:
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def has_secret(text: str, project: Any) -> bool:
    """Whether ``text`` holds a secret value: such results stay out of the cache file."""
    return any(secret in text for secret in project.variables.secrets if secret)
