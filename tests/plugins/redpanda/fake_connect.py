"""A fake Redpanda Connect in streams mode, as a real HTTP server on localhost that keeps state.

Shapes follow the streams API (../shared/notes/conduktor-redpanda-acl-apis.md C.5, RPCN
``streams_api.adoc``): ``GET /ready`` (200, or 503 naming a stream), ``GET /streams``
(``{id: {active, uptime, uptime_str}}``), ``POST /streams/{id}`` (create; the body is a JSON or
YAML config), ``GET /streams/{id}`` (``{active, uptime, uptime_str, config}``), ``PUT
/streams/{id}`` (replace), ``DELETE /streams/{id}``. A config that fails the lint is answered
``400 {"linting_errors": ["line N: ..."]}`` with the line of the YAML it was sent; the other
errors are plain text, as Redpanda Connect's handlers write them.

The lint knows a few components (the ``redpanda`` input, the ``http_client``, ``stdout``,
``drop`` and ``file`` outputs, some processors) and their fields; ``GET`` answers the config
with defaults filled in, as the real one does, so a client must compare only what it set.
A stream reports ``active: false`` for its first ``polls_until_active`` reads.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

SECTIONS = ("input", "buffer", "pipeline", "output")
COMMON = ("label", "processors")
INPUTS = {
    "redpanda": {
        "required": ("seed_brokers",),
        "fields": [
            "seed_brokers",
            "topics",
            "regexp_topics_include",
            "consumer_group",
            "start_offset",
            "sasl",
            "tls",
            "client_id",
            "rack_id",
            "fetch_max_bytes",
            "commit_period",
            "auto_replay_nacks",
            "batching",
        ],
    },
}
OUTPUTS = {
    "http_client": {
        "required": ("url",),
        "fields": [
            "url",
            "verb",
            "headers",
            "metadata",
            "timeout",
            "max_in_flight",
            "batching",
            "retry_period",
            "retries",
            "max_retry_backoff",
            "successful_on",
            "backoff_on",
            "drop_on",
            "basic_auth",
            "oauth",
            "oauth2",
            "jwt",
            "tls",
            "rate_limit",
            "propagate_response",
            "batch_as_multipart",
            "proxy_url",
        ],
    },
    "stdout": {"required": (), "fields": ["codec"]},
    "drop": {"required": (), "fields": []},
    "file": {"required": ("path",), "fields": ["path", "codec"]},
}
PROCESSORS = ("mapping", "bloblang", "log", "jq", "switch", "catch", "branch", "noop")
LABEL = re.compile(r"^[a-z0-9_]+$")


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    body: str = ""


@dataclass
class ConnectState:
    ready: bool = True
    polls_until_active: int = 1
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> config
    started: dict[str, float] = field(default_factory=dict)
    inactive_reads: dict[str, int] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- lint -------------------------------------------------------------------------------------


def lint(text: str) -> tuple[Any, list[str]]:
    """The config in ``text`` and its lint errors (``line N: what``)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        return None, [f"line 1: {exc}"]
    if not isinstance(root, yaml.MappingNode):
        return None, ["line 1: expected a mapping of input, buffer, pipeline and output"]
    errors: list[str] = []
    for key, value in root.value:
        if key.value not in SECTIONS:
            errors.append(f"line {_line(key)}: field {key.value} not recognised")
        elif key.value == "input":
            _component(value, INPUTS, "input", errors)
        elif key.value == "output":
            _component(value, OUTPUTS, "output", errors)
        elif key.value == "pipeline":
            _pipeline(value, errors)
    if not any(k.value == "input" for k, _ in root.value):
        errors.append("line 1: field input is required")
    if not any(k.value == "output" for k, _ in root.value):
        errors.append("line 1: field output is required")
    return yaml.safe_load(text), errors


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _component(
    node: yaml.Node, kinds: dict[str, dict[str, Any]], what: str, errors: list[str]
) -> None:
    if not isinstance(node, yaml.MappingNode):
        errors.append(f"line {_line(node)}: expected object value")
        return
    types = [(k, v) for k, v in node.value if k.value not in COMMON]
    for key, value in node.value:
        if key.value == "label" and not LABEL.match(str(value.value)):
            errors.append(f"line {_line(value)}: label must match [a-z0-9_]+")
    if len(types) != 1:
        errors.append(f"line {_line(node)}: unable to infer {what} type from fields")
        return
    key, body = types[0]
    spec = kinds.get(key.value)
    if spec is None:
        errors.append(f"line {_line(key)}: field {key.value} not recognised")
        return
    if not isinstance(body, yaml.MappingNode):
        errors.append(f"line {_line(body)}: expected object value")
        return
    present = {k.value for k, _ in body.value}
    for field_key, _ in body.value:
        if field_key.value not in spec["fields"]:
            errors.append(f"line {_line(field_key)}: field {field_key.value} not recognised")
    for required in spec["required"]:
        if required not in present:
            errors.append(f"line {_line(key)}: field {required} is required")


def _pipeline(node: yaml.Node, errors: list[str]) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if key.value not in ("threads", "processors"):
            errors.append(f"line {_line(key)}: field {key.value} not recognised")
        elif key.value == "processors" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                for name, _ in item.value if isinstance(item, yaml.MappingNode) else []:
                    if name.value not in (*PROCESSORS, "label"):
                        errors.append(f"line {_line(name)}: field {name.value} not recognised")


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """The config as ``GET /streams/{id}`` shows it: defaults filled in."""
    shown = copy.deepcopy(config)
    shown.setdefault("buffer", {"none": {}})
    pipeline = shown.setdefault("pipeline", {})
    pipeline.setdefault("threads", -1)
    pipeline.setdefault("processors", [])
    redpanda = (shown.get("input") or {}).get("redpanda")
    if isinstance(redpanda, dict):
        redpanda.setdefault("start_offset", "earliest")
        redpanda.setdefault("client_id", "benthos")
    http = (shown.get("output") or {}).get("http_client")
    if isinstance(http, dict):
        http.setdefault("verb", "POST")
        http.setdefault("timeout", "5s")
        http.setdefault("max_in_flight", 64)
    return shown


# -- HTTP -------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: FakeConnect

    def log_message(self, *_: Any) -> None:
        pass

    def _reply(self, status: int, body: Any, text: str = "") -> None:
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        path = unquote(urlsplit(self.path).path)
        self.server.state.exchanges.append(Exchange(self.command, path, status, text))

    def _stream_id(self) -> str | None:
        path = urlsplit(self.path).path
        prefix = "/streams/"
        return unquote(path[len(prefix) :]) if path.startswith(prefix) else None

    def do_GET(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        with state.lock:
            if path == "/ready":
                if state.ready:
                    return self._reply(200, "OK")
                first = next(iter(sorted(state.streams)), "sink")
                return self._reply(503, f"stream {first}: output not connected")
            if path == "/streams":
                return self._reply(200, {sid: self._status(sid) for sid in state.streams})
            sid = self._stream_id()
            if sid is None:
                return self._reply(404, "Not Found")
            if sid not in state.streams:
                return self._reply(404, f"Stream not found: {sid}")
            left = state.inactive_reads.get(sid, 0)
            state.inactive_reads[sid] = max(0, left - 1)
            entry = {**self._status(sid), "config": with_defaults(state.streams[sid])}
            entry["active"] = left == 0
            return self._reply(200, entry)

    def _status(self, sid: str) -> dict[str, Any]:
        state = self.server.state
        uptime = round(time.monotonic() - state.started[sid], 3)
        active = state.inactive_reads.get(sid, 0) == 0
        return {"active": active, "uptime": uptime, "uptime_str": f"{uptime}s"}

    def _body(self) -> str:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()

    def do_POST(self) -> None:
        self._put(create=True)

    def do_PUT(self) -> None:
        self._put(create=False)

    def _put(self, create: bool) -> None:
        state = self.server.state
        text = self._body()
        sid = self._stream_id()
        if not sid:
            return self._reply(404, "Not Found", text)
        with state.lock:
            if create and sid in state.streams:
                return self._reply(400, f"Stream already exists: {sid}", text)
            if not create and sid not in state.streams:
                return self._reply(404, f"Stream not found: {sid}", text)
            config, errors = lint(text)
            if errors:
                return self._reply(400, {"linting_errors": errors}, text)
            state.streams[sid] = config
            state.started[sid] = time.monotonic()
            state.inactive_reads[sid] = state.polls_until_active
        return self._reply(200, "", text)

    def do_DELETE(self) -> None:
        state = self.server.state
        sid = self._stream_id()
        with state.lock:
            if not sid or sid not in state.streams:
                return self._reply(404, f"Stream not found: {sid}")
            del state.streams[sid]
        return self._reply(200, "")


class FakeConnect(ThreadingHTTPServer):
    """Redpanda Connect in streams mode (``rpk connect streams``), its REST API only."""

    daemon_threads = True

    def __init__(self, state: ConnectState | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state or ConnectState()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def ready(self) -> bool:
        return self.state.ready

    @ready.setter
    def ready(self, value: bool) -> None:
        self.state.ready = value
