"""A fake Redpanda Admin API (v1 REST), as a real HTTP server on localhost that keeps state.

Shapes follow the documented ones (../shared/notes/conduktor-redpanda-acl-apis.md part C):
``GET /v1/status/ready``, ``GET /v1/brokers``, ``GET /v1/cluster_config``, ``GET /v1/transform``
(``[{name, input_topic, output_topics, status: [{node_id, partition, core, status, lag}],
environment: [{key, value}]}]``), ``POST /v1/transform/deploy`` (metadata JSON immediately
followed by the wasm bytes, split with ``raw_decode``), ``DELETE /v1/transform/{name}``,
``GET /v1/security/users`` (a list of names), ``POST /v1/security/users``
(``{"username", "password", "algorithm"}``, validated), ``DELETE /v1/security/users/{user}``;
errors are ``{"message", "code"}``. A deployed transform reports ``inactive`` partitions for
the first ``polls_until_running`` listings, then ``running``.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

VERSION = "v24.2.4 - 1b2f4c9"
WASM_MAGIC = b"\x00asm"


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    metadata: Any = None  # the JSON part of a deploy
    wasm: bytes | None = None


@dataclass
class AdminState:
    ready: bool = True
    brokers: int = 3
    cluster_config: dict[str, Any] = field(
        default_factory=lambda: {"data_transforms_enabled": True, "enable_transactions": True}
    )
    partitions: int = 3
    polls_until_running: int = 1
    errored: bool = False  # deployed transforms report errored partitions
    topics: set[str] | None = None  # None: every topic exists
    auth: tuple[str, str] | None = None
    transforms: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (password, algorithm)
    binaries: dict[str, bytes] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # listings left before running
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: FakeAdmin

    def log_message(self, *_: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, exchange: Exchange | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        record = exchange or Exchange(self.command, urlsplit(self.path).path, status)
        record.status = status
        self.server.state.exchanges.append(record)

    def _error(self, status: int, message: str, exchange: Exchange | None = None) -> None:
        self._send(status, {"message": message, "code": status}, exchange)

    def _authorised(self) -> bool:
        auth = self.server.state.auth
        if auth is None:
            return True
        header = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return header == expected

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        if not self._authorised():
            return self._error(401, "Unauthorized")
        with state.lock:
            if path == "/v1/status/ready":
                if not state.ready:
                    return self._error(503, "not ready")
                return self._send(200, {"status": "ready"})
            if path == "/v1/brokers":
                return self._send(200, [_broker(i) for i in range(state.brokers)])
            if path == "/v1/cluster_config":
                return self._send(200, state.cluster_config)
            if path == "/v1/transform":
                return self._send(200, [self._listed(name) for name in sorted(state.transforms)])
            if path == "/v1/security/users":
                return self._send(200, sorted(state.users))
        return self._error(404, f"Not found: {path}")

    def _listed(self, name: str) -> dict[str, Any]:
        state = self.server.state
        left = state.pending.get(name, 0)
        if left > 0:
            state.pending[name] = left - 1
            phase = "inactive"
        else:
            phase = "errored" if state.errored else "running"
        transform = dict(state.transforms[name])
        transform["status"] = [
            {"node_id": p % state.brokers, "partition": p, "core": 0, "status": phase, "lag": 0}
            for p in range(state.partitions)
        ]
        return transform

    def do_POST(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        body = self._body()
        if not self._authorised():
            return self._error(401, "Unauthorized")
        if path == "/v1/security/users":
            return self._create_user(body)
        if path != "/v1/transform/deploy":
            return self._error(404, f"Not found: {path}")
        exchange = Exchange("POST", path, 0)
        try:
            metadata, end = json.JSONDecoder().raw_decode(body.decode("latin-1"))
        except ValueError:
            return self._error(400, "invalid transform metadata", exchange)
        wasm = body[end:]
        exchange.metadata, exchange.wasm = metadata, wasm
        if not wasm.startswith(WASM_MAGIC):
            return self._error(400, "invalid WebAssembly - missing magic bytes", exchange)
        name = metadata.get("name")
        if not name or not metadata.get("input_topic") or not metadata.get("output_topics"):
            return self._error(400, "missing name, input_topic or output_topics", exchange)
        for topic in [metadata["input_topic"], *metadata["output_topics"]]:
            if state.topics is not None and topic not in state.topics:
                return self._error(400, f"topic does not exist: {topic}", exchange)
        with state.lock:
            state.transforms[name] = {
                "name": name,
                "input_topic": metadata["input_topic"],
                "output_topics": list(metadata["output_topics"]),
                "environment": list(metadata.get("environment") or []),
            }
            state.binaries[name] = wasm
            state.pending[name] = state.polls_until_running
        return self._send(200, None, exchange)

    def _create_user(self, body: bytes) -> None:
        state = self.server.state
        exchange = Exchange("POST", "/v1/security/users", 0)
        try:
            request = json.loads(body)
        except ValueError:
            return self._error(400, "Invalid JSON body", exchange)
        exchange.metadata = request
        if not isinstance(request, dict):
            return self._error(400, "Expected a JSON object", exchange)
        name, password = request.get("username"), request.get("password")
        algorithm = request.get("algorithm")
        if not isinstance(name, str) or not name or not isinstance(password, str) or not password:
            return self._error(400, "Missing username or password", exchange)
        if algorithm not in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            return self._error(400, f"Unknown scram algorithm: {algorithm}", exchange)
        with state.lock:
            if name in state.users:
                return self._error(400, "Creating user: User already exists", exchange)
            state.users[name] = (password, algorithm)
        return self._send(200, None, exchange)

    def do_DELETE(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        if not self._authorised():
            return self._error(401, "Unauthorized")
        if path.startswith("/v1/security/users/"):
            name = unquote(path[len("/v1/security/users/") :])
            with state.lock:
                if state.users.pop(name, None) is None:
                    return self._error(404, f"User does not exist: {name}")
            return self._send(200)
        prefix = "/v1/transform/"
        if not path.startswith(prefix):
            return self._error(404, f"Not found: {path}")
        name = unquote(path[len(prefix) :])
        with state.lock:
            if name not in state.transforms:
                return self._error(404, f"transform not found: {name}")
            del state.transforms[name]
            state.binaries.pop(name, None)
        return self._send(200)


def _broker(node_id: int) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "num_cores": 1,
        "membership_status": "active",
        "is_alive": True,
        "version": VERSION,
    }


class FakeAdmin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: AdminState | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state or AdminState()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def start(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fake-redpanda")
    thread.start()
    return thread
