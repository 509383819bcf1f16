"""HTTP clients of Redpanda's Admin API (v1 REST) and of Redpanda Connect's streams API.

Admin API errors come back as :class:`RedpandaError` built from the API's error body
``{"message": ..., "code": <http status>}``; other bodies are quoted as they are. The password
is masked in every message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote

import httpx

from sluice.errors import RemoteError
from sluice_redpanda.config import RedpandaConfig

REQUEST_TIMEOUT = 30.0
MASK = "****"
USER_AGENT = "sluice-redpanda/0.1.0"


class RedpandaError(RemoteError):
    """A request the Admin API (or Redpanda Connect) answered with an error."""

    def __init__(self, message: str, status: int, lints: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.lints = list(lints)  # Redpanda Connect's linting_errors, when it gave them


def lints_of(response: httpx.Response) -> list[str]:
    """The ``linting_errors`` of a 400 from the streams API (``{"linting_errors": [...]}``)."""
    try:
        data = response.json()
    except ValueError:
        return []
    found = data.get("linting_errors") if isinstance(data, Mapping) else None
    return [str(item) for item in found] if isinstance(found, list) else []


def error_text(response: httpx.Response) -> str:
    """The ``message`` of ``{"message", "code"}``, else the body as it is."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:2000] or response.reason_phrase
    if isinstance(data, Mapping) and data.get("message"):
        return str(data["message"])
    return json.dumps(data)[:2000]


class _Http:
    service = "Redpanda"

    def __init__(
        self, base_url: str, auth: httpx.Auth | None, secrets: Sequence[str], timeout: float
    ) -> None:
        self.base_url = base_url
        self.secrets = [s for s in secrets if s]
        self._http = httpx.Client(
            base_url=base_url, auth=auth, headers={"User-Agent": USER_AGENT}, timeout=timeout
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Sequence[int] = (200,),
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise RedpandaError(
                self._mask(f"{self.service} at {self.base_url} did not answer: {exc}"), 0
            ) from None
        if response.status_code not in ok:
            hint = {401: " (check runtime.redpanda user and password)"}.get(
                response.status_code, ""
            )
            raise RedpandaError(
                self._mask(
                    f"{self.service} answered {method} {path} with {response.status_code}{hint}: "
                    f"{error_text(response)}"
                ),
                response.status_code,
                [self._mask(lint) for lint in lints_of(response)],
            )
        return response


class AdminClient(_Http):
    """Redpanda's Admin API (``/v1``), optionally with HTTP Basic auth."""

    service = "the Redpanda Admin API"

    @classmethod
    def from_config(cls, config: RedpandaConfig, timeout: float = REQUEST_TIMEOUT) -> Self:
        password = config.password.get_secret_value() if config.password else ""
        auth = httpx.BasicAuth(config.user, password) if config.user is not None else None
        return cls(config.admin_url, auth, [password], timeout)

    def ready(self) -> None:
        self.request("GET", "/v1/status/ready")

    def brokers(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/v1/brokers").json())

    def cluster_config(self) -> dict[str, Any]:
        data = self.request("GET", "/v1/cluster_config").json()
        return data if isinstance(data, dict) else {}

    def transforms(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/v1/transform").json())

    def deploy_transform(self, metadata: Mapping[str, Any], wasm: bytes) -> None:
        """``POST /v1/transform/deploy``: the metadata JSON immediately followed by the binary."""
        body = json.dumps(dict(metadata)).encode() + wasm
        self.request(
            "POST",
            "/v1/transform/deploy",
            content=body,
            headers={"Content-Type": "application/json"},
        )

    def users(self) -> list[str]:
        """``GET /v1/security/users``: the SASL/SCRAM user names."""
        return [str(name) for name in self.request("GET", "/v1/security/users").json()]

    def create_user(self, name: str, password: str, mechanism: str) -> None:
        """``POST /v1/security/users`` with the user's name, password and SCRAM mechanism."""
        body = {"username": name, "password": password, "algorithm": mechanism}
        self.request(
            "POST",
            "/v1/security/users",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )

    def delete_user(self, name: str) -> bool:
        """Delete ``name``; False when it was already gone (404)."""
        try:
            self.request("DELETE", f"/v1/security/users/{quote(name, safe='')}")
        except RedpandaError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete_transform(self, name: str) -> bool:
        """Delete ``name``; False when it was already gone (404)."""
        try:
            self.request("DELETE", f"/v1/transform/{quote(name, safe='')}")
        except RedpandaError as exc:
            if exc.status == 404:
                return False
            raise
        return True


class ConnectClient(_Http):
    """Redpanda Connect in streams mode: ``/ready`` and ``/streams``."""

    service = "Redpanda Connect"

    @classmethod
    def from_config(
        cls,
        config: RedpandaConfig,
        timeout: float = REQUEST_TIMEOUT,
        secrets: Sequence[str] = (),
    ) -> Self:
        assert config.connect_url is not None
        return cls(config.connect_url, None, secrets, timeout)

    def ready(self) -> None:
        self.request("GET", "/ready")

    def streams(self) -> dict[str, Any]:
        """``GET /streams``: id -> ``{active, uptime, uptime_str}``."""
        data = self.request("GET", "/streams").json()
        return dict(data) if isinstance(data, Mapping) else {}

    def stream(self, stream_id: str) -> dict[str, Any] | None:
        """``GET /streams/{id}``: ``{active, uptime, uptime_str, config}``; None if missing."""
        try:
            data = self.request("GET", _stream_path(stream_id)).json()
        except RedpandaError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(data) if isinstance(data, Mapping) else None

    def put_stream(self, stream_id: str, yaml_text: str, *, create: bool) -> None:
        """Create (``POST``) or replace (``PUT``) a stream with a YAML config."""
        self.request(
            "POST" if create else "PUT",
            _stream_path(stream_id),
            content=yaml_text.encode(),
            headers={"Content-Type": "application/yaml"},
        )

    def delete_stream(self, stream_id: str) -> bool:
        """Stop and remove a stream; False when it was already gone (404)."""
        try:
            self.request("DELETE", _stream_path(stream_id))
        except RedpandaError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _stream_path(stream_id: str) -> str:
    return f"/streams/{quote(stream_id, safe='')}"
