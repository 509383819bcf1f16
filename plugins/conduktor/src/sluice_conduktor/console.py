"""The HTTP client of Conduktor Console's public API (under ``<console_url>/api``, Bearer key).

Self-service resources (``Application``, ``ApplicationInstance``,
``ApplicationInstancePermission``) are read by name (None when Console answers 404), upserted
with ``PUT /public/self-serve/v1/<kind>`` and deleted by name (no body: the API takes none).
Consumer groups come from the paged ``POST /public/v1/clusters/{cluster}/consumergroups``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import quote

from sluice.errors import RemoteError
from sluice_conduktor.client import REQUEST_TIMEOUT, ConduktorError, ConduktorHttp
from sluice_conduktor.config import ConduktorConfig

SELF_SERVE = "/public/self-serve/v1"
# the path segment of each self-service kind
KIND_PATHS = {
    "Application": "application",
    "ApplicationInstance": "application-instance",
    "ApplicationInstancePermission": "application-instance-permission",
}
GROUPS_PER_PAGE = 100
MAX_PAGES = 1000  # a bound on a server that keeps announcing more pages


class ConsoleClient(ConduktorHttp):
    """Conduktor Console's public API, Bearer API key."""

    service = "Conduktor Console"

    @classmethod
    def from_config(cls, config: ConduktorConfig, timeout: float = REQUEST_TIMEOUT) -> Self:
        if config.console_api is None:
            raise RemoteError(
                "Conduktor Console is not configured",
                hint="set runtime.conduktor.console_url and api_key",
            )
        key = config.api_key.get_secret_value() if config.api_key else ""
        return cls(config.console_api, {"Authorization": f"Bearer {key}"}, None, [key], timeout)

    def kafka_clusters(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/public/console/v2/kafka-cluster").json())

    # -- self-service ---------------------------------------------------------------------------

    def resource(self, kind: str, name: str) -> dict[str, Any] | None:
        """One self-service resource by name, or None when Console has none of that name."""
        try:
            data = self.request("GET", f"{SELF_SERVE}/{KIND_PATHS[kind]}/{quote(name, safe='')}")
        except ConduktorError as exc:
            if exc.status == 404:
                return None
            raise
        found = data.json()
        return found if isinstance(found, dict) else None

    def application_instances(self) -> list[dict[str, Any]]:
        """Every application instance (every application's): who may be granted access."""
        return list(self.request("GET", f"{SELF_SERVE}/application-instance").json())

    def permissions(self, application: str) -> list[dict[str, Any]]:
        """The permissions ``application``'s instances grant."""
        params = {"filterByApplication": application}
        path = f"{SELF_SERVE}/application-instance-permission"
        return list(self.request("GET", path, params=params).json())

    def upsert(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT`` one resource; the answer holds the stored resource and the upsert result."""
        path = f"{SELF_SERVE}/{KIND_PATHS[str(body['kind'])]}"
        data = self.request("PUT", path, body=body).json()
        return data if isinstance(data, dict) else {}

    def delete(self, kind: str, name: str) -> bool:
        """Delete one resource by name; False when it was already gone (404)."""
        try:
            self.request("DELETE", f"{SELF_SERVE}/{KIND_PATHS[kind]}/{quote(name, safe='')}")
        except ConduktorError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- consumer groups ------------------------------------------------------------------------

    def consumer_groups(self, cluster: str) -> list[dict[str, Any]]:
        """Every consumer group of ``cluster``, page after page."""
        path = f"/public/v1/clusters/{quote(cluster, safe='')}/consumergroups"
        groups: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = {"page": page, "itemsPerPage": GROUPS_PER_PAGE, "sort": "ByName"}
            data = self.request("POST", path, body=body).json()
            groups += list(data.get("data") or [])
            if page >= int(data.get("totalPages") or 0):
                break
        return groups


def only_cluster(config: ConduktorConfig, console: ConsoleClient) -> str:
    """The Kafka cluster sluice works with in Console: the configured one, else the only one."""
    if config.console_cluster:
        return config.console_cluster
    names = sorted(str((c.get("metadata") or {}).get("name")) for c in console.kafka_clusters())
    if len(names) == 1:
        return names[0]
    found = ", ".join(names) if names else "none"
    raise RemoteError(
        f"Conduktor Console knows {len(names)} Kafka clusters ({found}); sluice cannot tell "
        "which one the project's topics are on",
        hint="set runtime.conduktor.console_cluster to the cluster's name in Console",
    )
