"""A fake Conduktor Console public API (under ``/api``) as a real HTTP server on localhost.

It keeps the self-service objects (applications, application instances, permissions) by name,
answers upserts with ``{"resource", "upsertResult"}`` (``Created``, ``Updated``, ``NotChanged``,
as Console's document spells them), deletes with 200 and no body, and lists each cluster's
consumer groups a page at a time. It enforces the business rules sluice must respect, with
Console's documented titles: an instance needs its application, its cluster and topics no other
instance owns, and keeps its cluster; a permission is granted by an instance on a topic it owns
to another instance of the same cluster, and its spec never changes; nothing that others refer
to can be deleted. Every exchange is checked against the published Console document by the
handler shared with the fake Gateway.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .fake_gateway import FakeState, Server

API_KEY = "console-key-123"
BASE = "/api/public/self-serve/v1/"
KINDS = {
    "application": "Application",
    "application-instance": "ApplicationInstance",
    "application-instance-permission": "ApplicationInstancePermission",
}
RULES = "The request does not match one of the business rules"
LINKED = "Resource link to an other resource"


def cluster(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v2",
        "kind": "KafkaCluster",
        "metadata": {"name": name},
        "spec": {"displayName": name.title(), "bootstrapServers": "localhost:9092"},
    }


def instance(
    application: str, name: str, account: str, groups: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Another team's application instance on cluster ``local``, claiming ``groups``."""
    return {
        "apiVersion": "v1",
        "kind": "ApplicationInstance",
        "metadata": {"name": name, "application": application},
        "spec": {
            "cluster": "local",
            "serviceAccount": account,
            "resources": [
                {
                    "type": "CONSUMER_GROUP",
                    "name": g,
                    "patternType": "PREFIXED",
                    "ownershipMode": "ALL",
                }
                for g in groups
            ],
        },
    }


def group(name: str, topics: tuple[str, ...], lag: int, state: str = "Stable") -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "members": 1,
        "overallLag": lag,
        "topics": list(topics),
        "maxLagTimeInSeconds": lag // 10,
        "type": "IndexedConsumerGroup",
    }


@dataclass
class ConsoleState(FakeState):
    clusters: list[dict[str, Any]] = field(default_factory=lambda: [cluster("local")])
    user_groups: set[str] = field(default_factory=lambda: {"data-platform", "billing-team"})
    # kind path segment -> name -> stored resource
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    consumer_groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, kind: str, body: dict[str, Any]) -> None:
        self.objects[kind][body["metadata"]["name"]] = _stored(kind, body)

    @property
    def applications(self) -> dict[str, dict[str, Any]]:
        return self.objects["application"]

    @property
    def instances(self) -> dict[str, dict[str, Any]]:
        return self.objects["application-instance"]

    @property
    def permissions(self) -> dict[str, dict[str, Any]]:
        return self.objects["application-instance-permission"]


def _stored(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """What Console keeps: the body, with the defaults it fills in."""
    stored = copy.deepcopy(body)
    if kind == "application-instance":
        for resource in stored["spec"].get("resources") or []:
            resource.setdefault("ownershipMode", "ALL")
    return stored


def _conflict(msg: str, title: str = RULES) -> tuple[int, Any]:
    return 409, {"title": title, "msg": msg}


def _topics(instance: dict[str, Any]) -> set[str]:
    return {
        r["name"]
        for r in instance["spec"].get("resources") or []
        if r["type"] == "TOPIC" and r["patternType"] == "LITERAL"
    }


class FakeConsole(Server):
    state: ConsoleState

    def route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any
    ) -> tuple[int, Any]:
        if headers.get("Authorization") != f"Bearer {API_KEY}":
            return 401, {"title": "The user is not authenticated"}
        if path == "/api/public/console/v2/kafka-cluster" and method == "GET":
            return 200, self.state.clusters
        if path.startswith("/api/public/v1/clusters/") and path.endswith("/consumergroups"):
            return self._consumer_groups(path.split("/")[5], body)
        if path.startswith(BASE):
            kind, _, name = path[len(BASE) :].partition("/")
            if kind in KINDS:
                return self._self_serve(method, kind, name, query, body)
        return 404, {"title": "Not found"}

    # -- self-service -------------------------------------------------------------------------

    def _self_serve(
        self, method: str, kind: str, name: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        store = self.state.objects[kind]
        if not name and method == "GET":
            return 200, [item for _, item in sorted(store.items()) if _filtered(item, query)]
        if not name and method == "PUT":
            problem = getattr(self, "_check_" + kind.replace("-", "_"))(body)
            if problem:
                return problem
            return 200, self._upsert(kind, body, query.get("dryMode") == ["true"])
        if name not in store:
            return 404, {"title": f"No {kind} with this technical id exists"}
        if method == "GET":
            return 200, store[name]
        if method == "DELETE":
            if self._referenced(kind, name):
                return _conflict(f"{kind} '{name}' is still referred to", LINKED)
            del store[name]
            return 200, None
        return 404, {"title": "Not found"}

    def _upsert(self, kind: str, body: dict[str, Any], dry: bool) -> dict[str, Any]:
        stored = _stored(kind, body)
        before = self.state.objects[kind].get(body["metadata"]["name"])
        result = "Created" if before is None else "NotChanged" if before == stored else "Updated"
        if not dry:
            self.state.objects[kind][body["metadata"]["name"]] = stored
        return {"resource": stored, "upsertResult": result}

    def _check_application(self, body: dict[str, Any]) -> tuple[int, Any] | None:
        owner = body["spec"]["owner"]
        if owner not in self.state.user_groups:
            return _conflict(f"the owner group '{owner}' does not exist")
        return None

    def _check_application_instance(self, body: dict[str, Any]) -> tuple[int, Any] | None:
        name, spec = body["metadata"]["name"], body["spec"]
        if body["metadata"]["application"] not in self.state.applications:
            return _conflict(f"application '{body['metadata']['application']}' does not exist")
        if spec["cluster"] not in {c["metadata"]["name"] for c in self.state.clusters}:
            return _conflict(f"cluster '{spec['cluster']}' does not exist")
        before = self.state.instances.get(name)
        if before is not None and before["spec"]["cluster"] != spec["cluster"]:
            return _conflict("the cluster of an application instance cannot change")
        wanted = _topics(body)
        for other_name, other in self.state.instances.items():
            taken = wanted & _topics(other) if other_name != name else set()
            if taken and other["spec"]["cluster"] == spec["cluster"]:
                return _conflict(f"topic '{min(taken)}' is owned by instance '{other_name}'")
        granted = {
            p["spec"]["resource"]["name"]
            for p in self.state.permissions.values()
            if p["metadata"]["appInstance"] == name
        }
        if granted - wanted:
            return _conflict(f"topic '{min(granted - wanted)}' has permissions granted on it")
        return None

    def _check_application_instance_permission(
        self, body: dict[str, Any]
    ) -> tuple[int, Any] | None:
        metadata, spec = body["metadata"], body["spec"]
        granting = self.state.instances.get(metadata["appInstance"])
        if granting is None or granting["metadata"]["application"] != metadata["application"]:
            return _conflict(f"application instance '{metadata['appInstance']}' does not exist")
        if spec["resource"]["name"] not in _topics(granting):
            return _conflict(f"'{metadata['appInstance']}' does not own the resource")
        grantee = self.state.instances.get(spec["grantedTo"])
        if grantee is None or grantee["spec"]["cluster"] != granting["spec"]["cluster"]:
            return _conflict(f"no application instance '{spec['grantedTo']}' on this cluster")
        before = self.state.permissions.get(metadata["name"])
        if before is not None and before["spec"] != spec:
            return _conflict("the spec of an application instance permission cannot change")
        return None

    def _referenced(self, kind: str, name: str) -> bool:
        if kind == "application":
            return any(i["metadata"]["application"] == name for i in self.state.instances.values())
        if kind == "application-instance":
            return any(
                name in (p["metadata"]["appInstance"], p["spec"]["grantedTo"])
                for p in self.state.permissions.values()
            )
        return False

    # -- consumer groups ------------------------------------------------------------------------

    def _consumer_groups(self, cluster: str, body: dict[str, Any]) -> tuple[int, Any]:
        if cluster not in {c["metadata"]["name"] for c in self.state.clusters}:
            return 404, {"title": "No cluster with this technical id exist"}
        groups = sorted(self.state.consumer_groups.get(cluster, []), key=lambda g: g["name"])
        size, page = body["itemsPerPage"], body["page"]
        pages = max(1, -(-len(groups) // size))
        return 200, {
            "data": groups[(page - 1) * size : page * size],
            "page": page,
            "totalPages": pages,
            "perPage": size,
            "totalElements": len(groups),
        }


def _filtered(item: dict[str, Any], query: dict[str, list[str]]) -> bool:
    """The list filters of the self-service endpoints."""
    metadata, spec = item["metadata"], item.get("spec") or {}
    checks = {
        "application": metadata.get("application"),
        "filterByApplication": metadata.get("application"),
        "filterByApplicationInstance": metadata.get("appInstance"),
        "filterByGrantedTo": spec.get("grantedTo"),
    }
    return all(checks.get(key) == values[0] for key, values in query.items() if key in checks)
