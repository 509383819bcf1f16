"""A fake Conduktor Gateway admin API as a real HTTP server on localhost (and what the fake
Console shares with it: the contract-checking request handler).

The Gateway keeps interceptors keyed by name and scope, answers upserts with
``{"resource", "upsertResult"}`` (``CREATED``, ``UPDATED``, ``NOT_CHANGED``), deletes with 204 (the
scope in the body, as the API requires) and errors with ``{"title": ...}`` using the API's own
titles. Every request it receives and every answer it gives is checked against the published
OpenAPI document; departures are collected in ``violations`` (the test fixture fails on any) and a
non-conforming request is refused with 400, so the plugin sees the failure too.
"""

from __future__ import annotations

import base64
import json
import threading
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .contract import Contract

USER, PASSWORD = "admin", "gw-Secret-42"
VERSION = "3.9.0"
PLUGIN_IDS = (
    "io.conduktor.gateway.interceptor.VirtualSqlTopicPlugin",
    "io.conduktor.gateway.interceptor.FieldLevelDataMaskingPlugin",
    "io.conduktor.gateway.interceptor.safeguard.CreateTopicPolicyPlugin",
)
# /health is documented on Conduktor's monitoring page, not in the OpenAPI document
UNCONTRACTED = frozenset({"/health"})


def _scope(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((k, str(v)) for k, v in value.items() if v not in (None, "")))


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


@dataclass
class FakeState:
    interceptors: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = field(
        default_factory=dict
    )
    plugins: tuple[str, ...] = PLUGIN_IDS
    exchanges: list[Exchange] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        contract = self.server.contract
        state = self.server.state
        problems = [] if path in UNCONTRACTED else contract.check_request(method, path, query, raw)
        if problems:
            state.violations += [f"request {method} {self.path}: {p}" for p in problems]
            status, body = 400, {"title": "The request is not valid", "msg": "; ".join(problems)}
        else:
            try:
                body_in = json.loads(raw) if raw else None
            except ValueError:
                body_in = None
            status, body = self.server.route(method, path, query, body_in, self.headers)
        payload = b"" if body is None else json.dumps(body).encode()
        content_type = "application/json" if body is not None else ""
        if path not in UNCONTRACTED:
            for problem in contract.check_response(method, path, status, content_type, payload):
                state.violations.append(f"response {status} to {method} {self.path}: {problem}")
        state.exchanges.append(
            Exchange(method, path, query, json.loads(raw) if raw else None, status)
        )
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Server(ThreadingHTTPServer, metaclass=ABCMeta):
    """A fake server; each fake says in ``route`` what it answers to a request."""

    daemon_threads = True

    def __init__(self, contract: Contract, state: FakeState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.contract = contract
        self.state = state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @abstractmethod
    def route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any
    ) -> tuple[int, Any]:
        """The status and JSON body the fake answers."""


def unauthorized() -> tuple[int, Any]:
    return 401, {"title": "The given credentials are not valid"}


class FakeGateway(Server):
    def route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any
    ) -> tuple[int, Any]:
        if path == "/health" and method == "GET":
            return 200, {
                "status": "UP",
                "checks": [
                    {"id": "buildInfo", "status": "UP", "data": {"version": VERSION}},
                    {"id": "live", "status": "UP"},
                ],
                "outcome": "UP",
            }
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if headers.get("Authorization") != expected:
            return unauthorized()
        if path == "/gateway/v2/plugin" and method == "GET":
            return 200, [
                {"plugin": p, "pluginId": p, "readme": f"# {p.rsplit('.', 1)[1]}"}
                for p in self.state.plugins
            ]
        if path == "/gateway/v2/interceptor":
            if method == "GET":
                return 200, self._list(query)
            if method == "PUT":
                return self._upsert(body, query.get("dryMode") == ["true"])
        prefix = "/gateway/v2/interceptor/"
        if path.startswith(prefix) and method == "DELETE":
            key = (path[len(prefix) :], _scope(body))
            if key not in self.state.interceptors:
                return 404, {"title": "The given interceptor does not exist"}
            del self.state.interceptors[key]
            return 204, None
        return 404, {"title": "Not found"}

    def _list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        found = []
        for (name, scope), item in sorted(self.state.interceptors.items()):
            scoped = dict(scope)
            if "name" in query and name != query["name"][0]:
                continue
            if query.get("global") == ["true"] and scoped:
                continue
            if (
                "vcluster" in query
                and scoped.get("vCluster", "passthrough") != query["vcluster"][0]
            ):
                continue
            found.append(item)
        return found

    def _upsert(self, body: dict[str, Any], dry: bool) -> tuple[int, Any]:
        metadata = body["metadata"]
        scope = _scope(metadata.get("scope"))
        vcluster = dict(scope).get("vCluster")
        if vcluster not in (None, "passthrough") and vcluster not in self.vclusters:
            return 404, {
                "title": "The virtual cluster or the group specified in the scope does not exist"
            }
        stored = {
            "kind": "Interceptor",
            "apiVersion": "gateway/v2",
            "metadata": {"name": metadata["name"], "scope": dict(scope)},
            "spec": {k: v for k, v in body["spec"].items() if v is not None},
        }
        key = (metadata["name"], scope)
        before = self.state.interceptors.get(key)
        if before is None:
            result = "CREATED"
        elif before == stored:
            result = "NOT_CHANGED"
        else:
            result = "UPDATED"
        if not dry:
            self.state.interceptors[key] = stored
        return 200, {"resource": stored, "upsertResult": result}

    vclusters: frozenset[str] = frozenset({"team-a"})


def start(server: Server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fake-conduktor")
    thread.start()
    return thread
