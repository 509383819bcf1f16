"""Plan, apply and status of the Console self-service objects that ``access:`` becomes.

Creates go Application (stage 0), ApplicationInstance (1), permissions (2) within a node's
changes, and deletes the other way round, which is the order Console accepts them in (an
instance needs its application; an application or instance that still has dependants cannot be
deleted). The Application and the instance are planned with the first selected node that
declares ``access:``; each permission with its model.

A permission's spec cannot change in Console: a changed one is replaced (deleted, created). A
permission whose model left the project waits for ``--prune``; until then its topic stays among
the instance's resources, since Console grants only on what the instance owns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluice.errors import PlanError, RemoteError
from sluice.plugin.api import ApplyResult, Artifact, Change, StatusItem
from sluice.runtime import RunContext
from sluice_conduktor.client import upsert_result
from sluice_conduktor.compiler import PLUGIN, config_of
from sluice_conduktor.config import ConduktorConfig
from sluice_conduktor.console import ConsoleClient, only_cluster
from sluice_conduktor.rbac import (
    KIND,
    USER,
    application_body,
    application_name,
    instance_body,
    instance_name,
    is_managed,
    permission_body,
)

APPLICATION = "application"
INSTANCE = "application-instance"
PERMISSION = "application-instance-permission"
CONSOLE_KINDS = {
    APPLICATION: "Application",
    INSTANCE: "ApplicationInstance",
    PERMISSION: "ApplicationInstancePermission",
}
STAGES = {APPLICATION: 0, INSTANCE: 1, PERMISSION: 2}
_COMPARED = {APPLICATION: ("title", "owner", "description"), INSTANCE: ("cluster", "resources")}


@dataclass(frozen=True)
class LiveAccess:
    """What Console holds for the project on its cluster."""

    cluster: str
    application: dict[str, Any] | None
    instance: dict[str, Any] | None
    stale_instances: list[dict[str, Any]]  # the application's instances on other clusters
    permissions: dict[str, dict[str, Any]]  # by name: every permission the application grants
    service_accounts: dict[str, str]  # service account -> its instance, on the cluster


def _name(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name"))


def read_live(
    console: ConsoleClient,
    config: ConduktorConfig,
    project: str,
    application: dict[str, Any] | None,
) -> LiveAccess:
    """What Console holds for the project, given its Application (None: not there)."""
    app = application_name(project)
    cluster = only_cluster(config, console)
    mine = instance_name(project, cluster)
    instances = console.application_instances()
    owned = [i for i in instances if (i.get("metadata") or {}).get("application") == app]
    accounts = {}
    for item in instances:
        spec = item.get("spec") or {}
        if spec.get("cluster") == cluster and spec.get("serviceAccount") and _name(item) != mine:
            accounts[str(spec["serviceAccount"])] = _name(item)
    permissions = {_name(p): p for p in console.permissions(app)} if application else {}
    return LiveAccess(
        cluster,
        application,
        next((i for i in owned if _name(i) == mine), None),
        [i for i in owned if _name(i) != mine],
        permissions,
        accounts,
    )


# -- plan -------------------------------------------------------------------------------------


def plan(artifacts: Sequence[Artifact], context: RunContext) -> list[Change]:
    config = config_of(context.runtime)
    if config is None or config.console_api is None:
        return []  # compile made no access artifact without Console
    project = context.project.info.name
    whole = [a for a in context.project_artifacts(PLUGIN) if a.kind == KIND]
    with ConsoleClient.from_config(config) as console:
        found = console.resource("Application", application_name(project))
        if found is None and not whole:
            return []
        if found is not None and not is_managed(found, project):
            if not whole:
                return []
            raise PlanError(
                f"Conduktor Console already has an application '{application_name(project)}' "
                "that sluice does not manage (its description does not say so); sluice will "
                "not change it",
                hint="delete or rename that application in Console, or rename the project",
            )
        live = read_live(console, config, project, found)
    return _AccessPlan(context, config, live, whole, [a for a in artifacts if a.kind == KIND]).run()


class _AccessPlan:
    """The changes for one plan: permissions per model, then the application and instance."""

    def __init__(
        self,
        context: RunContext,
        config: ConduktorConfig,
        live: LiveAccess,
        whole: list[Artifact],
        chosen: list[Artifact],
    ) -> None:
        self.context = context
        self.config = config
        self.live = live
        self.project = context.project.info.name
        self.owners = context.manifest.artifact_owners
        destroyed = {a.key for a in chosen} if context.destroy else set()
        self.remaining = [a for a in whole if a.key not in destroyed]
        self.chosen = chosen
        self.destroyed_topics = {
            a.spec["topic"]: self.owners.get(a.key) for a in chosen if a.key in destroyed
        }
        # the Application and the instance go with the first selected node declaring access:
        self.anchor = self.owners.get(chosen[0].key) if chosen else None
        self.wanted = self._wanted()

    def run(self) -> list[Change]:
        changes = self._permissions()
        held = [c.payload["topic"] for c in changes if c.action == "delete" and c.node is None]
        changes += self._containers(held)
        return changes

    # permissions

    def _wanted(self) -> dict[str, tuple[dict[str, Any], str]]:
        """name -> (body, why) of every permission the project grants (whole project)."""
        wanted = {}
        selected = {a.key for a in self.chosen}
        for artifact in self.remaining:
            for grant in artifact.spec["grants"]:
                principal = str(grant["principal"])
                grantee = self.live.service_accounts.get(principal.removeprefix(USER))
                if grantee is None:
                    if artifact.key in selected:
                        self._unresolved(artifact, principal)
                    continue
                body = permission_body(
                    self.project,
                    self.live.cluster,
                    artifact.spec["topic"],
                    str(grant["permission"]),
                    grantee,
                )
                wanted[_name(body)] = (body, f"{principal} is the service account of {grantee}")
        return wanted

    def _unresolved(self, artifact: Artifact, principal: str) -> None:
        account = principal.removeprefix(USER)
        where = f"on cluster '{self.live.cluster}'"
        if artifact.spec.get("required"):
            raise PlanError(
                f"topic '{artifact.spec['topic']}' grants access to {principal}, but no "
                f"application instance in Conduktor Console has the service account '{account}' "
                f"{where}, and a virtual topic is reachable only through Console's grants",
                hint=f"give the consuming application's instance serviceAccount: {account} in "
                "Console, or remove the principal from access:",
            )
        self.context.echo(
            f"note: no application instance in Conduktor Console has the service account "
            f"'{account}' {where}: Kafka ACLs alone grant {principal} access to topic "
            f"'{artifact.spec['topic']}'"
        )

    def _permissions(self) -> list[Change]:
        selected_nodes = {self.owners.get(a.key) for a in self.chosen}
        stays = {a.spec["topic"]: self.owners.get(a.key) for a in self.remaining}
        changes = []
        for name, (body, why) in sorted(self.wanted.items()):
            node = stays.get(body["spec"]["resource"]["name"])
            if node in selected_nodes:
                changes.append(_plan_permission(body, self.live.permissions.get(name), node, why))
        for name, live in sorted(self.live.permissions.items()):
            if name in self.wanted:
                continue
            topic = str(((live.get("spec") or {}).get("resource") or {}).get("name"))
            if topic in stays:
                if stays[topic] in selected_nodes:
                    changes.append(_delete(PERMISSION, live, stays[topic], "no longer in access:"))
            elif topic in self.destroyed_topics:
                changes.append(_delete(PERMISSION, live, self.destroyed_topics[topic], "destroy"))
            elif not self.context.destroy:
                changes.append(self._orphan(PERMISSION, live))
        return changes

    def _orphan(self, kind: str, live: Mapping[str, Any]) -> Change:
        """A delete of what left the project: held until --prune; then it runs with the anchor,
        before the instance gives up the topic it grants on."""
        node = self.anchor if self.context.prune else None
        return _delete(kind, live, node, "its model left the project")

    # the application and its instance

    def _containers(self, held_topics: list[str]) -> list[Change]:
        live = self.live
        if not self.remaining:
            node = self.anchor if self.context.destroy else None
            why = "destroy" if self.context.destroy else "no model declares access: any more"
            return [
                _delete(kind, body, node, why)
                for kind, body in (
                    *((INSTANCE, i) for i in live.stale_instances),
                    (INSTANCE, live.instance),
                    (APPLICATION, live.application),
                )
                if body is not None
            ]
        if self.anchor is None:
            return []  # nothing selected declares access: the containers wait for it
        topics = [a.spec["topic"] for a in self.remaining] + held_topics
        changes = [
            _plan_container(
                APPLICATION,
                application_body(self.project, self._owner()),
                live.application,
                self.anchor,
            ),
            _plan_container(
                INSTANCE,
                instance_body(self.project, live.cluster, topics),
                live.instance,
                self.anchor,
            ),
        ]
        # an instance on a cluster the project left goes last, after every grant it made
        why = "the project's cluster in Console changed"
        changes += [
            _delete(INSTANCE, i, None, why)
            for i in live.stale_instances
            if not self.context.destroy
        ]
        return changes

    def _owner(self) -> str:
        if self.config.application_owner:
            return self.config.application_owner
        existing = (self.live.application or {}).get("spec") or {}
        if existing.get("owner"):
            return str(existing["owner"])  # keep the group Console has
        raise PlanError(
            "access: is granted through Conduktor Console's self-service, whose Application "
            "needs an owner group, and runtime.conduktor.application_owner is not set",
            hint="set runtime.conduktor.application_owner to the Console group that owns the "
            "project's Application",
        )


def _plan_container(
    kind: str, desired: dict[str, Any], live: Mapping[str, Any] | None, node: str
) -> Change:
    payload = {"body": desired}
    name = _name(desired)
    if live is None:
        return Change(PLUGIN, "create", kind, name, node, payload=payload, stage=STAGES[kind])
    live_spec, spec = live.get("spec") or {}, desired["spec"]
    diff = {
        f"spec.{field}": (live_spec.get(field), spec.get(field))
        for field in _COMPARED[kind]
        if _normal(live_spec.get(field)) != _normal(spec.get(field))
    }
    if "spec.cluster" in diff:
        raise PlanError(
            f"Conduktor Console's application instance '{name}' is on cluster "
            f"'{live_spec.get('cluster')}', and an instance's cluster cannot change",
            hint="delete that instance in Console, or set runtime.conduktor.console_cluster",
        )
    if not diff:
        return Change(PLUGIN, "none", kind, name, node, stage=STAGES[kind])
    return Change(PLUGIN, "update", kind, name, node, diff, payload=payload, stage=STAGES[kind])


def _plan_permission(
    desired: dict[str, Any], live: Mapping[str, Any] | None, node: str | None, why: str
) -> Change:
    name, spec = _name(desired), desired["spec"]
    payload = {"body": desired, "kind": CONSOLE_KINDS[PERMISSION], "name": name}
    stage = STAGES[PERMISSION]
    if live is None:
        diff = {f"spec.{k}": (None, spec[k]) for k in ("permission", "grantedTo")}
        return Change(
            PLUGIN, "create", PERMISSION, name, node, diff, reason=why, payload=payload, stage=stage
        )
    live_spec = live.get("spec") or {}
    diff = {
        f"spec.{k}": (live_spec.get(k), spec[k])
        for k in ("resource", "permission", "grantedTo")
        if _normal(live_spec.get(k)) != _normal(spec[k])
    }
    if not diff:
        return Change(PLUGIN, "none", PERMISSION, name, node, stage=stage)
    why = "Console cannot change a permission in place"
    return Change(
        PLUGIN, "replace", PERMISSION, name, node, diff, reason=why, payload=payload, stage=stage
    )


def _delete(kind: str, body: Mapping[str, Any], node: str | None, why: str) -> Change:
    name = _name(body)
    resource = ((body.get("spec") or {}).get("resource") or {}).get("name")
    return Change(
        PLUGIN,
        "delete",
        kind,
        name,
        node,
        destructive=True,
        reason=why,
        payload={"kind": CONSOLE_KINDS[kind], "name": name, "topic": resource},
        stage=STAGES[kind],
    )


def _same(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return bool(_normal(live.get("spec")) == _normal(desired.get("spec")))


def _normal(value: Any) -> Any:
    """A comparable value: Console may add defaults to a resource, and lists are sets."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _normal(v)) for k, v in value.items() if k not in _DEFAULTED))
    if isinstance(value, list | tuple):
        return tuple(sorted((_normal(v) for v in value), key=repr))
    return value


_DEFAULTED = frozenset({"ownershipMode", "connectCluster"})  # filled in by Console when absent


# -- apply ------------------------------------------------------------------------------------


def apply(change: Change, context: RunContext) -> ApplyResult:
    config = config_of(context.runtime)
    if config is None:
        raise RemoteError("the project has Console self-service changes but no runtime.conduktor")
    kind = CONSOLE_KINDS[change.kind]
    with ConsoleClient.from_config(config) as console:
        if change.action == "delete":
            gone = console.delete(kind, change.name)
            return ApplyResult(change, "success", "deleted" if gone else "already gone")
        if change.action == "replace":
            console.delete(kind, change.name)
        if change.action in ("create", "update", "replace"):
            answer = console.upsert(change.payload["body"])
            return ApplyResult(change, "success", upsert_result(answer).lower().replace("_", " "))
    return ApplyResult(change, "skipped", f"nothing to do for {change.action}")


# -- status -----------------------------------------------------------------------------------


def status(artifacts: Sequence[Artifact], context: RunContext) -> list[StatusItem]:
    """Per ``access`` artifact: every grant in place (ACTIVE), some (PARTIAL) or none (MISSING)."""
    config = config_of(context.runtime)
    own = [a for a in artifacts if a.kind == KIND]
    if config is None or config.console_api is None or not own:
        return []
    project = context.project.info.name
    with ConsoleClient.from_config(config) as console:
        found = console.resource("Application", application_name(project))
        live = read_live(console, config, project, found)
    owners = context.manifest.artifact_owners
    return [_access_status(a, live, project, owners.get(a.key, "")) for a in own]


def _access_status(artifact: Artifact, live: LiveAccess, project: str, node: str) -> StatusItem:
    granted: list[str] = []
    missing: list[str] = []
    for grant in artifact.spec["grants"]:
        principal, permission = str(grant["principal"]), str(grant["permission"])
        grantee = live.service_accounts.get(principal.removeprefix(USER))
        found, body = None, None
        if grantee is not None:
            body = permission_body(
                project, live.cluster, artifact.spec["topic"], permission, grantee
            )
            found = live.permissions.get(_name(body))
        ok = body is not None and found is not None and _same(found, body)
        (granted if ok else missing).append(f"{principal} {permission}")
    state = "ACTIVE" if not missing else "PARTIAL" if granted else "MISSING"
    detail = {"granted": granted, "missing": missing, "cluster": live.cluster}
    return StatusItem(node, PLUGIN, f"access:{artifact.spec['topic']}", state, detail)
