"""The relay registry: the plugin's "live system", one JSON file per registered resource.

A file is named ``<name>.<kind>.json`` and holds the resource's spec plus a marker, so the
plugin only ever touches files it wrote itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "sluice-example-webhook"


@dataclass(frozen=True)
class Record:
    """One registered resource as it is on disk."""

    kind: str
    name: str
    node: str | None
    spec: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


class Registry:
    """Reads and writes the registry directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, kind: str, name: str) -> Path:
        return self.directory / f"{name}.{kind}.json"

    def is_writable(self) -> bool:
        return self.directory.is_dir() and os.access(self.directory, os.W_OK)

    def records(self) -> dict[tuple[str, str], Record]:
        """Every resource this plugin registered; other files are left alone."""
        found: dict[tuple[str, str], Record] = {}
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("*.json")):
            record = self._read(path)
            if record is not None:
                found[record.key] = record
        return found

    def get(self, kind: str, name: str) -> Record | None:
        return self._read(self.path(kind, name))

    def write(self, record: Record) -> Path:
        path = self.path(record.kind, record.name)
        body = {
            "managed_by": MARKER,
            "kind": record.kind,
            "name": record.name,
            "node": record.node,
            "spec": dict(record.spec),
        }
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(path)  # readers never see half a file
        return path

    def delete(self, kind: str, name: str) -> bool:
        path = self.path(kind, name)
        if not path.exists():
            return False
        path.unlink()
        return True

    def _read(self, path: Path) -> Record | None:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(body, dict) or body.get("managed_by") != MARKER:
            return None
        return Record(body["kind"], body["name"], body.get("node"), body.get("spec") or {})
