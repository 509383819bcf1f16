"""Posting OpenLineage events to a receiver over HTTP, the way Marquez takes them: one event per
``POST <url>/api/v1/lineage`` with a JSON body, and a bearer token when
``OPENLINEAGE_API_KEY`` is set (sent, never printed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from sluice.errors import OpenLineageError

LINEAGE_PATH = "/api/v1/lineage"
API_KEY_VARIABLE = "OPENLINEAGE_API_KEY"
TIMEOUT = 5.0  # seconds; a receiver slower than this must not hold up an apply


def lineage_endpoint(url: str) -> str:
    """The endpoint events go to: ``url`` plus ``/api/v1/lineage`` unless it already ends so.

    Raises OpenLineageError when ``url`` is not an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OpenLineageError(
            f"the OpenLineage URL '{shown(url)}' is not an http(s) URL",
            hint="give the receiver's base URL, e.g. --openlineage-url http://localhost:5000 "
            f"(events go to <url>{LINEAGE_PATH})",
        )
    path = parts.path.rstrip("/")
    if not path.endswith(LINEAGE_PATH):
        path += LINEAGE_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def shown(url: str) -> str:
    """``url`` without a password it may carry, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Receiver:
    """An OpenLineage HTTP endpoint; ``send`` raises OpenLineageError when an event is refused
    or the receiver cannot be reached."""

    def __init__(self, url: str, environ: Mapping[str, str] | None = None) -> None:
        self.endpoint = lineage_endpoint(url)
        environ = os.environ if environ is None else environ
        headers = {"Content-Type": "application/json"}
        api_key = environ.get(API_KEY_VARIABLE)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(headers=headers, timeout=TIMEOUT)

    def send(self, body: str) -> None:
        """POST one event (its JSON text)."""
        try:
            response = self._client.post(self.endpoint, content=body.encode("utf-8"))
        except httpx.HTTPError as exc:
            raise OpenLineageError(
                f"could not reach the OpenLineage receiver at {shown(self.endpoint)}: {exc}",
                hint="check that the receiver runs and the URL is right",
            ) from None
        if response.status_code >= 300:
            raise OpenLineageError(
                f"the OpenLineage receiver at {shown(self.endpoint)} answered "
                f"{response.status_code}: {response.text[:200].strip()}",
                hint=f"a 401/403 means a missing or wrong token in {API_KEY_VARIABLE}",
            )

    def close(self) -> None:
        self._client.close()
