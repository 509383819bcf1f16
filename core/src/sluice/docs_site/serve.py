"""Serving ``target/docs`` over HTTP with the standard library's threading server."""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sluice.errors import DocsError


class _SiteHandler(SimpleHTTPRequestHandler):
    # a regenerated site must show at once, not a cached older page
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would bury the URL the user needs


def make_server(site: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server of the folder ``site`` (port 0: any free port; read it from ``server_port``)."""
    if not (site / "index.html").is_file():
        raise DocsError(
            f"no docs site in {site}",
            hint="run sluice docs generate first (or drop --no-generate)",
        )
    handler = functools.partial(_SiteHandler, directory=str(site))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise DocsError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another port with --port (0 picks a free one)",
        ) from exc


def site_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve_until_interrupted(server: ThreadingHTTPServer, echo: Callable[[str], None]) -> None:
    """Serve until Ctrl-C, then close the socket and say so: an interrupt is how it ends."""
    with server:
        echo(f"serving the docs at {site_url(server)} (press Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            echo("stopped")
