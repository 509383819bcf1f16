"""Local ports for dev services: chosen once, kept in the service's directory.

A service asks for named ports with preferred numbers (Kafka's 9092 ...). The first time, each
preferred port that is free is taken and the others get a free port from the kernel; the choice
is written to a JSON file and reused, so the addresses in ``.sluice/dev/env`` stay the same
from one ``up`` to the next. A kept port that something else has taken meanwhile is replaced.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP listener could bind ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _any_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def load_ports(path: Path) -> dict[str, int]:
    """The ports kept in ``path`` (empty when there is no such file or it is unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)}


def choose_ports(path: Path, preferred: Mapping[str, int]) -> dict[str, int]:
    """One port per name in ``preferred``, kept in ``path`` (JSON) across calls.

    Call it only while the service is stopped: a kept port is checked to be free, and one that
    is not is replaced (its own running process would otherwise count as a squatter).
    """
    kept = load_ports(path)
    chosen: dict[str, int] = {}
    for name, default in preferred.items():
        port = kept.get(name)
        if port is None or port in chosen.values() or not is_free(port):
            port = default
            if port in chosen.values() or not is_free(port):
                port = _any_free_port()
                while port in chosen.values():
                    port = _any_free_port()
        chosen[name] = port
    if chosen != kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(chosen, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return chosen


def read_port(path: Path, name: str) -> int:
    """The kept port ``name`` from ``path``; ``KeyError`` when it was never chosen."""
    ports = load_ports(path)
    if name not in ports:
        raise KeyError(f"no port '{name}' in {path}")
    return ports[name]
