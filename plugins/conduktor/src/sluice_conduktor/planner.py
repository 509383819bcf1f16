"""Probe, plan, apply and status against Conduktor Gateway (and Console for the probe).

An interceptor is identified by its name and scope (the Gateway allows one name in several
scopes). sluice manages the interceptors whose name starts with ``sluice.<project>.`` and whose
comment says ``managed by sluice``; it never plans a change to any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.errors import PlanError, RemoteError
from sluice.nodes import Node
from sluice.plugin.api import ApplyResult, Artifact, Change, ProbeResult, StatusItem
from sluice.runtime import RunContext
from sluice_conduktor.client import ConduktorError, GatewayClient, upsert_result, version_of
from sluice_conduktor.compiler import (
    COMMENT_PREFIX,
    KIND,
    MASKING_CLASS,
    PLUGIN,
    SQL_TOPIC_CLASS,
    config_of,
    managed_prefix,
)
from sluice_conduktor.config import ConduktorConfig
from sluice_conduktor.console import ConsoleClient

Key = tuple[str, tuple[tuple[str, str], ...]]
_COMPARED = ("pluginClass", "priority", "config", "comment")


# -- probe ------------------------------------------------------------------------------------


def probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Gateway health and version, the interceptor plugins it offers, Console with the key."""
    config = config_of(runtime)
    if config is None:
        return None
    with GatewayClient.from_config(config, timeout) as gateway:
        health = gateway.health()
        plugin_ids = {str(p.get("pluginId") or p.get("plugin")) for p in gateway.plugins()}
    capabilities = []
    parts = [f"Gateway {health.get('status', '?')}"]
    if SQL_TOPIC_CLASS in plugin_ids:
        capabilities.append("virtual_topics")
    else:
        parts.append("no VirtualSqlTopicPlugin (enterprise licence?): no virtual topics")
    if MASKING_CLASS in plugin_ids:
        capabilities.append("masking")
    else:
        parts.append("no FieldLevelDataMaskingPlugin: no masking")
    if config.console_api is not None:
        try:
            with ConsoleClient.from_config(config, timeout) as console:
                clusters = console.kafka_clusters()
        except ConduktorError as exc:
            parts.append(f"Console not usable: {exc.message}")
        else:
            capabilities += ["rbac", "runtime_lineage"]
            parts.append(f"Console: {len(clusters)} Kafka cluster(s)")
    return ProbeResult(
        reachable=True,
        capabilities=tuple(capabilities),
        version=version_of(health),
        detail="; ".join(parts),
    )


# -- plan -------------------------------------------------------------------------------------


def scope_key(scope: Any) -> tuple[tuple[str, str], ...]:
    """A comparable scope: unset, null and empty fields all mean "not scoped by it"."""
    if not isinstance(scope, Mapping):
        return ()
    return tuple(sorted((k, str(v)) for k, v in scope.items() if v not in (None, "")))


def key_of(body: Mapping[str, Any]) -> Key:
    metadata = body.get("metadata") or {}
    return str(metadata.get("name")), scope_key(metadata.get("scope"))


def _managed(body: Mapping[str, Any], project: str) -> bool:
    name = str((body.get("metadata") or {}).get("name", ""))
    comment = str((body.get("spec") or {}).get("comment") or "")
    return name.startswith(managed_prefix(project)) and comment.startswith(COMMENT_PREFIX)


def _require_config(context: RunContext) -> ConduktorConfig:
    config = config_of(context.runtime)
    if config is None:
        raise RemoteError(
            "the project has Conduktor Gateway interceptors but no runtime.conduktor",
            hint="configure runtime.conduktor.proxy_url",
        )
    return config


def plan(artifacts: Sequence[Artifact], context: RunContext) -> list[Change]:
    config = config_of(context.runtime)
    own = [a for a in artifacts if a.kind == KIND]
    if config is None:
        if own:
            _require_config(context)
        return []
    project = context.project.info.name
    with GatewayClient.from_config(config) as gateway:
        live = {key_of(body): body for body in gateway.interceptors()}
    managed = {k: b for k, b in live.items() if _managed(b, project)}
    owners = context.manifest.artifact_owners
    changes = []
    if context.destroy:
        for artifact in own:
            body = managed.get(key_of(artifact.spec))
            if body is not None:
                changes.append(_delete(body, owners.get(artifact.key), "destroy"))
        return changes
    for artifact in own:
        body = live.get(key_of(artifact.spec))
        changes.append(_plan_one(artifact, body, owners.get(artifact.key), project))
    wanted = {key_of(a.spec) for a in context.project_artifacts(PLUGIN) if a.kind == KIND}
    for key, body in sorted(managed.items()):
        if key not in wanted:
            changes.append(_delete(body, None, "its model left the project"))
    return changes


def _plan_one(
    artifact: Artifact, live: Mapping[str, Any] | None, node: str | None, project: str
) -> Change:
    desired = artifact.spec
    payload = {"body": dict(desired)}
    stage = 0 if desired["spec"]["pluginClass"] == MASKING_CLASS else 1
    if live is None:
        return Change(PLUGIN, "create", KIND, artifact.name, node, payload=payload, stage=stage)
    live_spec = live.get("spec") or {}
    diff = {
        f"spec.{field}": (live_spec.get(field), desired["spec"].get(field))
        for field in _COMPARED
        if live_spec.get(field) != desired["spec"].get(field)
    }
    if not diff:
        return Change(PLUGIN, "none", KIND, artifact.name, node, stage=stage)
    if not _managed(live, project):
        raise PlanError(
            f"Conduktor Gateway already has an interceptor '{artifact.name}' in that scope that "
            "sluice does not manage (its comment does not say so); sluice will not overwrite it",
            hint="delete or rename that interceptor, or rename the model",
        )
    return Change(PLUGIN, "update", KIND, artifact.name, node, diff, payload=payload, stage=stage)


def _delete(body: Mapping[str, Any], node: str | None, why: str) -> Change:
    metadata = body.get("metadata") or {}
    scope = dict(scope_key(metadata.get("scope")))
    stage = 0 if (body.get("spec") or {}).get("pluginClass") == MASKING_CLASS else 1
    return Change(
        PLUGIN,
        "delete",
        KIND,
        str(metadata.get("name")),
        node,
        destructive=True,
        reason=why,
        payload={"name": str(metadata.get("name")), "scope": scope},
        stage=stage,
    )


# -- apply ------------------------------------------------------------------------------------


def apply(change: Change, context: RunContext) -> ApplyResult:
    config = _require_config(context)
    with GatewayClient.from_config(config) as gateway:
        if change.action in ("create", "update"):
            answer = gateway.upsert_interceptor(change.payload["body"])
            return ApplyResult(change, "success", upsert_result(answer).lower().replace("_", " "))
        if change.action == "delete":
            gone = gateway.delete_interceptor(change.payload["name"], change.payload["scope"])
            return ApplyResult(change, "success", "deleted" if gone else "already gone")
    return ApplyResult(change, "skipped", f"nothing to do for {change.action}")


# -- status -----------------------------------------------------------------------------------


def status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> list[StatusItem]:
    config = config_of(context.runtime)
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if config is None or not own:
        return []
    with GatewayClient.from_config(config) as gateway:
        live = {key_of(body): body for body in gateway.interceptors()}
    owners = context.manifest.artifact_owners
    items = []
    for artifact in own:
        body = live.get(key_of(artifact.spec))
        if body is None:
            state = "MISSING"
        elif (body.get("spec") or {}) == artifact.spec["spec"]:
            state = "ACTIVE"
        else:
            state = "DRIFTED"
        spec = artifact.spec["spec"]
        detail = {"pluginClass": spec["pluginClass"], "priority": spec["priority"]}
        if "virtualTopic" in spec["config"]:
            detail["virtualTopic"] = spec["config"]["virtualTopic"]
        items.append(StatusItem(owners.get(artifact.key, ""), PLUGIN, artifact.name, state, detail))
    return items
