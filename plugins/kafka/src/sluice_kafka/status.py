"""The live view: probe answers, topic status, consumer lag and runtime lineage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from sluice.errors import RemoteError
from sluice.plugin.api import Artifact, LineageEdge, ProbeResult, StatusItem
from sluice_kafka.client import KafkaAdmin, LiveTopic
from sluice_kafka.config import KafkaConfig, SchemaRegistryConfig

PLUGIN = "kafka"


# -- probe ------------------------------------------------------------------------------------


def probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Cluster id, broker count, ACLs and the registry; raises when Kafka cannot be reached."""
    kafka = runtime.get("kafka")
    registry = runtime.get("schema_registry")
    if not isinstance(kafka, KafkaConfig) and not isinstance(registry, SchemaRegistryConfig):
        return None
    # leave the manager's deadline a margin, so our own error (not a timeout) is reported
    budget = max(0.5, timeout * 0.8)
    capabilities: list[str] = []
    details: list[str] = []
    if isinstance(kafka, KafkaConfig):
        admin = KafkaAdmin(kafka, timeout=budget)
        cluster = admin.cluster()
        capabilities += ["topics", "consumer_groups"]
        details.append(f"{cluster.brokers} broker(s), cluster id {cluster.cluster_id}")
        enabled, why = admin.acls_enabled()
        if enabled:
            capabilities.append("acls")
        details.append("ACLs enabled" if enabled else f"ACLs unavailable ({why})")
    if isinstance(registry, SchemaRegistryConfig):
        answer = registry_answers(registry, budget)
        if answer is None:
            capabilities.append("schemas")
            details.append("schema registry reachable")
        elif not isinstance(kafka, KafkaConfig):
            raise RemoteError(f"schema registry at {registry.url}: {answer}")
        else:
            details.append(f"schema registry unavailable ({answer})")
    # the broker version is not exposed by the admin API librdkafka offers
    return ProbeResult(True, tuple(capabilities), version=None, detail="; ".join(details))


def registry_answers(registry: SchemaRegistryConfig, timeout: float) -> str | None:
    """None when ``GET /subjects`` answers 200, else why not."""
    auth = None
    if registry.basic_auth_user and registry.basic_auth_password is not None:
        auth = (registry.basic_auth_user, registry.basic_auth_password.get_secret_value())
    try:
        response = httpx.get(f"{registry.url}/subjects", auth=auth, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"GET /subjects answered {response.status_code}"


# -- status -----------------------------------------------------------------------------------


def topic_status(
    artifacts: Sequence[Artifact], owners: Mapping[str, str], admin: KafkaAdmin
) -> list[StatusItem]:
    """EXISTS or MISSING per topic, with partitions and the declared settings that drifted."""
    topics = [a for a in artifacts if a.kind in ("topic", "source_topic")]
    live = admin.describe_topics(a.name for a in topics)
    items = []
    for artifact in topics:
        node = owners.get(artifact.key, "")
        found = live.get(artifact.name)
        if found is None:
            items.append(StatusItem(node, PLUGIN, f"topic:{artifact.name}", "MISSING"))
            continue
        detail: dict[str, Any] = {
            "partitions": found.partitions,
            "replication_factor": found.replication_factor,
        }
        if artifact.kind == "topic":
            detail["drift"] = drift(artifact.spec, found)
        items.append(StatusItem(node, PLUGIN, f"topic:{artifact.name}", "EXISTS", detail))
    return items


def drift(spec: Mapping[str, Any], live: LiveTopic) -> list[str]:
    """The declared fields whose live value differs (undeclared fields never drift)."""
    fields = []
    for key in ("partitions", "replication_factor"):
        if spec.get(key) is not None and spec[key] != getattr(live, key):
            fields.append(key)
    for key, value in sorted((spec.get("config") or {}).items()):
        if live.config.get(key) != value:
            fields.append(f"config.{key}")
    return fields


def group_lag(groups: Mapping[str, str], admin: KafkaAdmin) -> list[StatusItem]:
    """Per exposure (uid -> consumer group): the group's state and its total and per-topic lag."""
    states = admin.group_states(sorted(set(groups.values())))
    items = []
    for uid, group in sorted(groups.items()):
        committed = admin.committed_offsets(group)
        ends = admin.end_offsets(committed)
        per_topic: dict[str, int] = {}
        for (topic, partition), offset in committed.items():
            end = ends.get((topic, partition))
            if end is not None:
                per_topic[topic] = per_topic.get(topic, 0) + max(0, end - offset)
        state = states.get(group, "UNKNOWN")
        if not committed and state in ("DEAD", "UNKNOWN"):
            state = "MISSING"
        detail = {"lag": sum(per_topic.values()), "topics": dict(sorted(per_topic.items()))}
        items.append(StatusItem(uid, PLUGIN, f"group:{group}", state, detail))
    return items


# -- lineage ----------------------------------------------------------------------------------


def consumer_lineage(
    admin: KafkaAdmin, topic_nodes: Mapping[str, str], group_nodes: Mapping[str, str]
) -> list[LineageEdge]:
    """``topic -> consumer group`` for every group with committed offsets.

    Topics and groups the project knows are named by their node (``model.x``, ``exposure.y``);
    others as ``topic:<name>`` / ``consumer_group:<id>``. librdkafka lists one group's offsets
    per request, so this costs one request per group.
    """
    edges = []
    for group in admin.group_ids():
        topics = sorted({topic for topic, _ in admin.committed_offsets(group)})
        target = group_nodes.get(group, f"consumer_group:{group}")
        for topic in topics:
            source = topic_nodes.get(topic, f"topic:{topic}")
            detail = {"topic": topic, "consumer_group": group}
            edges.append(LineageEdge(source, target, "consumes", detail=detail))
    return edges
