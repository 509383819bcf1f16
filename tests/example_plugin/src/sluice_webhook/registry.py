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


LOCK_FILE = ".sluice-apply.lock"


def take_lock(directory: Path) -> None:
    """Hold the registry for one apply; refuse when another live process holds it.

    The lock names its holder (host, pid, start time), so the refusal can say who it is. A
    lock whose process is gone (a crashed run) is taken over.
    """
    import socket
    import time

    from sluice.errors import ConcurrencyError

    path = directory / LOCK_FILE
    me = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        holder = None
    if holder and holder.get("pid") != me["pid"] and _alive(holder):
        raise ConcurrencyError(
            f"another apply holds the registry {directory}: host {holder['host']}, "
            f"pid {holder['pid']}, since {holder['since']}",
            hint="wait for it to finish; a lock of a process that died is taken over",
        )
    path.write_text(json.dumps(me), encoding="utf-8")


def release_lock(directory: Path) -> None:
    path = directory / LOCK_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(holder: Mapping[str, Any]) -> bool:
    import socket

    if holder.get("host") != socket.gethostname():
        return True  # a process on another machine cannot be checked: respect its lock
    try:
        os.kill(int(holder["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    return True
