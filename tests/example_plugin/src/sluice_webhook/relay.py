"""The local relay for ``sluice dev up`` and the HTTP check behind ``webhook_reachable`` tests."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx

from sluice.plugin.api import DevService

SERVICE = "webhook-relay"


def relay_service() -> DevService:
    """A static HTTP server on a free local port, so webhooks have somewhere to go in dev."""
    return DevService(
        name=SERVICE,
        prepare=_prepare,
        command=_command,
        ready=_ready,
        env=lambda state_dir: {"WEBHOOK_RELAY_URL": _url(state_dir)},
        start_timeout=15.0,
    )


def check_url(url: str, timeout: float) -> tuple[bool, str]:
    """Whether ``url`` answers HTTP at all (any status below 500 counts), and what it said."""
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, f"{url} did not answer: {type(exc).__name__}: {exc}"
    ok = response.status_code < 500
    return ok, f"{url} answered HTTP {response.status_code}"


def _prepare(state_dir: Path) -> None:
    # the port is chosen once and kept, so the URL in .sluice/dev/env stays the same
    (state_dir / "www").mkdir(parents=True, exist_ok=True)
    port_file = state_dir / "port"
    if not port_file.exists():
        port_file.write_text(str(_free_port()), encoding="utf-8")


def _command(state_dir: Path) -> list[str]:
    port = _port(state_dir)
    www = state_dir / "www"
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(www)]


def _ready(state_dir: Path) -> bool:
    if not (state_dir / "port").exists():
        return False
    try:
        return httpx.get(_url(state_dir), timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _url(state_dir: Path) -> str:
    return f"http://127.0.0.1:{_port(state_dir)}/"


def _port(state_dir: Path) -> int:
    return int((state_dir / "port").read_text(encoding="utf-8").strip())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
