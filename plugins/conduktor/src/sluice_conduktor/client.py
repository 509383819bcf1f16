"""The HTTP client of Conduktor Gateway's admin API v2, and what Console's shares with it.

Errors come back as :class:`ConduktorError` built from the APIs' error shape
``{"title": ..., "msg": ..., "cause": ...}`` (the most specific of cause, msg, title first, as
Conduktor's CLI prints them); a ``text/plain`` answer (some 400s) is quoted as is. Secret values
are masked in every message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote

import httpx

from sluice.errors import RemoteError
from sluice_conduktor.config import ConduktorConfig

REQUEST_TIMEOUT = 30.0
MASK = "****"
USER_AGENT = "sluice-conduktor/0.1.0"


class ConduktorError(RemoteError):
    """A request Gateway or Console answered with an error."""

    def __init__(self, message: str, status: int, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.title = title


def error_text(response: httpx.Response) -> tuple[str, str | None]:
    """(readable text, title) of an error answer."""
    try:
        data = response.json()
    except ValueError:
        return (response.text.strip()[:2000] or response.reason_phrase), None
    if isinstance(data, Mapping) and "title" in data:
        title = str(data["title"])
        parts = [title] + [
            str(data[k]) for k in ("msg", "message", "cause") if data.get(k) and data[k] != title
        ]
        return ": ".join(parts), title
    return str(data)[:2000], None


class ConduktorHttp:
    """One Conduktor HTTP API: errors in the API's shape, secrets masked in every message."""

    service = "Conduktor"
    forbidden = " (the credentials lack the permission)"

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        auth: httpx.Auth | None,
        secrets: Sequence[str],
        timeout: float,
    ) -> None:
        self.base_url = base_url
        self.secrets = [s for s in secrets if s]
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
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
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        ok: Sequence[int] = (200,),
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = {
                k: ("true" if v is True else "false" if v is False else v)
                for k, v in params.items()
                if v is not None
            }
        if body is not None:
            kwargs["json"] = body
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConduktorError(
                self._mask(f"{self.service} at {self.base_url} did not answer: {exc}"), 0
            ) from None
        if response.status_code not in ok:
            text, title = error_text(response)
            what = {401: " (check the credentials)", 403: self.forbidden}.get(
                response.status_code, ""
            )
            raise ConduktorError(
                self._mask(
                    f"{self.service} answered {method} {path} with {response.status_code}{what}: "
                    f"{text}"
                ),
                response.status_code,
                title,
            )
        return response


class GatewayClient(ConduktorHttp):
    """Conduktor Gateway's admin API (``/health`` and ``/gateway/v2``), HTTP Basic auth."""

    service = "Conduktor Gateway"
    forbidden = " (the user lacks the permission; the Gateway needs an admin user to write)"

    @classmethod
    def from_config(cls, config: ConduktorConfig, timeout: float = REQUEST_TIMEOUT) -> Self:
        password = config.proxy_password.get_secret_value() if config.proxy_password else ""
        auth = httpx.BasicAuth(config.proxy_user, password)
        return cls(config.proxy_url, {}, auth, [password], timeout)

    def health(self) -> dict[str, Any]:
        data = self.request("GET", "/health").json()
        return data if isinstance(data, dict) else {}

    def plugins(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/gateway/v2/plugin").json())

    def interceptors(self, vcluster: str | None = None) -> list[dict[str, Any]]:
        params = {"vcluster": vcluster} if vcluster else None
        return list(self.request("GET", "/gateway/v2/interceptor", params=params).json())

    def upsert_interceptor(self, body: Mapping[str, Any]) -> dict[str, Any]:
        data = self.request("PUT", "/gateway/v2/interceptor", body=body).json()
        return data if isinstance(data, dict) else {}

    def delete_interceptor(self, name: str, scope: Mapping[str, Any]) -> bool:
        """Delete ``name`` in ``scope``; False when it was already gone (404)."""
        try:
            self.request(
                "DELETE",
                f"/gateway/v2/interceptor/{quote(name, safe='')}",
                body=dict(scope),
                ok=(204, 200),
            )
        except ConduktorError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def version_of(health: Mapping[str, Any]) -> str | None:
    """The Gateway's version: ``checks[id=buildInfo].data.version`` of ``/health``."""
    for check in health.get("checks") or []:
        if isinstance(check, Mapping) and check.get("id") == "buildInfo":
            data = check.get("data") or {}
            if isinstance(data, Mapping) and data.get("version"):
                return str(data["version"])
    return None


def upsert_result(answer: Mapping[str, Any]) -> str:
    """``CREATED``/``UPDATED``/``NOT_CHANGED`` whatever the casing the server used."""
    raw = str(answer.get("upsertResult") or "")
    normal = raw.replace("_", "").upper()
    return {"CREATED": "CREATED", "UPDATED": "UPDATED", "NOTCHANGED": "NOT_CHANGED"}.get(
        normal, raw or "UNKNOWN"
    )
