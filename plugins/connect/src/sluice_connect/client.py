"""An HTTP client of the Kafka Connect REST API (any worker of a distributed cluster).

Connect answers errors as ``{"error_code": <int>, "message": <text>}``; the client turns them
into :class:`ConnectError` (a :class:`sluice.errors.RemoteError`) carrying the status and the
message, with every value of ``secrets`` masked, since validation errors may quote config
values back. Every request is bounded by a timeout, and so is every wait. A worker that is
rebalancing answers 409: such requests are retried for a little while.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote

import httpx

from sluice.errors import RemoteError

REQUEST_TIMEOUT = 30.0
POLL_INTERVAL = 0.5
REBALANCE_RETRY = 30.0  # seconds of 409 answers (a rebalance) tolerated per request
MASK = "****"


class ConnectError(RemoteError):
    """A request Connect answered with an error status."""

    def __init__(self, message: str, status: int, server: str) -> None:
        super().__init__(message)
        self.status = status
        self.server = server


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced (longest first, so nested secrets go whole)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def server_message(response: httpx.Response) -> str:
    """What Connect said: the ``message`` of its error body, or the body's text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return response.text.strip()[:2000] or response.reason_phrase


def trace_summary(trace: str | None) -> str | None:
    """The useful part of a Java stack trace: its first line and its innermost cause."""
    if not trace:
        return None
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    if not lines:
        return None
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    head = lines[0]
    if causes and causes[-1] != head:
        return f"{head} (caused by {causes[-1]})"
    return head


class ConnectClient:
    """The REST API of a Kafka Connect cluster at ``url`` (``runtime.connect.rest_url``)."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
        secrets: Sequence[str] = (),
    ) -> None:
        self.url = url.rstrip("/")
        self.secrets = [s for s in secrets if s]
        self._client = httpx.Client(base_url=self.url, timeout=timeout, auth=auth)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Sequence[tuple[str, str | int | float | bool | None]] | None = None,
    ) -> Any:
        deadline = time.monotonic() + REBALANCE_RETRY
        while True:
            try:
                response = self._client.request(method, path, json=body, params=tuple(params or ()))
            except httpx.HTTPError as exc:
                raise RemoteError(
                    f"Kafka Connect at {self.url} did not answer {method} {path}: "
                    f"{type(exc).__name__}: {exc}",
                    hint="is the worker running and runtime.connect.rest_url right?",
                ) from exc
            if response.status_code == 409 and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)  # a rebalance is in progress: ask again
                continue
            break
        if response.status_code >= 400:
            message = mask(server_message(response), self.secrets)
            error = ConnectError(
                f"Kafka Connect refused {method} {path} ({response.status_code}): {message}",
                response.status_code,
                message,
            )
            if response.status_code in (401, 403):
                error.hint = "check runtime.connect.basic_auth_user and basic_auth_password"
            raise error
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise RemoteError(
                f"Kafka Connect answered {method} {path} with something other than JSON: "
                f"{mask(response.text[:200], self.secrets)!r}"
            ) from exc

    # -- endpoints ----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET /``: the worker's version, commit and Kafka cluster id."""
        data: dict[str, Any] = self.request("GET", "/") or {}
        return data

    def plugins(self) -> list[dict[str, Any]]:
        """``GET /connector-plugins``: ``[{class, type, version}]`` installed on the worker."""
        data: list[dict[str, Any]] = self.request("GET", "/connector-plugins") or []
        return data

    def connectors(self) -> dict[str, dict[str, Any]]:
        """Every connector with its config and its status, in one request.

        ``GET /connectors?expand=info&expand=status`` answers
        ``{name: {"info": {config, tasks, type}, "status": {connector, tasks}}}``.
        """
        data = self.request("GET", "/connectors", params=[("expand", "info"), ("expand", "status")])
        return dict(data or {})

    def status(self, name: str) -> dict[str, Any] | None:
        """``GET /connectors/<name>/status``, or None when there is no such connector."""
        try:
            data: dict[str, Any] = self.request("GET", f"/connectors/{_path(name)}/status")
        except ConnectError as exc:
            if exc.status == 404:
                return None
            raise
        return data

    def put_config(self, name: str, config: Mapping[str, str]) -> int:
        """``PUT /connectors/<name>/config`` (idempotent): 201 when created, 200 when updated."""
        deadline = time.monotonic() + REBALANCE_RETRY
        path = f"/connectors/{_path(name)}/config"
        while True:
            try:
                response = self._client.put(path, json=dict(config))
            except httpx.HTTPError as exc:
                raise RemoteError(
                    f"Kafka Connect at {self.url} did not answer PUT {path}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if response.status_code == 409 and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
                continue
            break
        if response.status_code >= 400:
            message = mask(server_message(response), self.secrets)
            raise ConnectError(
                f"Kafka Connect refused the config of connector {name} "
                f"({response.status_code}): {message}",
                response.status_code,
                message,
            )
        return response.status_code

    def restart(self, name: str) -> None:
        """Restart the connector's failed instance and failed tasks (KIP-745)."""
        self.request(
            "POST",
            f"/connectors/{_path(name)}/restart",
            params=[("includeTasks", "true"), ("onlyFailed", "true")],
        )

    def delete(self, name: str) -> None:
        try:
            self.request("DELETE", f"/connectors/{_path(name)}")
        except ConnectError as exc:
            if exc.status != 404:  # already gone is what was asked
                raise

    def validate(self, connector_class: str, config: Mapping[str, str]) -> list[str]:
        """``PUT /connector-plugins/<class>/config/validate``: ``key: error`` for each error."""
        answer = self.request(
            "PUT",
            f"/connector-plugins/{_path(connector_class)}/config/validate",
            dict(config),
        )
        problems = []
        for entry in (answer or {}).get("configs", []):
            value = entry.get("value") or {}
            for error in value.get("errors") or []:
                problems.append(f"{value.get('name')}: {mask(str(error), self.secrets)}")
        return problems

    # -- waits --------------------------------------------------------------------------------

    def wait_until_running(self, name: str, timeout: float) -> dict[str, Any]:
        """Wait until the connector and each of its tasks run; a RemoteError with the trace
        of whatever failed, or naming the states when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            last = self.status(name)
            if last is not None:
                failure = failure_of(last)
                if failure:
                    raise RemoteError(f"connector {name}: {mask(failure, self.secrets)}")
                if is_running(last):
                    return last
            if time.monotonic() >= deadline:
                raise RemoteError(
                    f"connector {name} is not running after {timeout:g}s: {states_of(last)}"
                )
            time.sleep(POLL_INTERVAL)

    def wait_until_gone(self, name: str, timeout: float) -> None:
        wait_for(f"connector {name} to disappear", lambda: self.status(name) is None, timeout)


def _path(segment: str) -> str:
    return quote(segment, safe="")


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise RemoteError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(POLL_INTERVAL)


# -- reading a status ---------------------------------------------------------------------------


def is_running(status: Mapping[str, Any]) -> bool:
    tasks = status.get("tasks") or []
    connector = status.get("connector") or {}
    return (
        connector.get("state") == "RUNNING"
        and bool(tasks)
        and all(t.get("state") == "RUNNING" for t in tasks)
    )


def failed_parts(status: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """``(what, trace)`` of the connector instance and each task that FAILED."""
    parts = []
    connector = status.get("connector") or {}
    if connector.get("state") == "FAILED":
        parts.append(("connector", connector.get("trace")))
    for task in status.get("tasks") or []:
        if task.get("state") == "FAILED":
            parts.append((f"task {task.get('id')}", task.get("trace")))
    return parts


def failure_of(status: Mapping[str, Any]) -> str | None:
    """One sentence naming what failed and why, or None when nothing failed."""
    parts = failed_parts(status)
    if not parts:
        return None
    return "; ".join(
        f"{what} FAILED: {trace_summary(trace) or 'no trace recorded'}" for what, trace in parts
    )


def states_of(status: Mapping[str, Any] | None) -> str:
    if status is None:
        return "no such connector"
    connector = (status.get("connector") or {}).get("state", "?")
    tasks = ", ".join(f"task {t.get('id')} {t.get('state')}" for t in status.get("tasks") or [])
    return f"connector {connector}" + (f", {tasks}" if tasks else ", no tasks yet")
