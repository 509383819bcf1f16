"""Runtime lineage from Conduktor Console: which consumer groups, and which applications,
read each of the project's topics, with their lag.

Console lists a cluster's consumer groups with the topics they read and their overall lag
(``POST /public/v1/clusters/{cluster}/consumergroups``); groups it has not indexed yet carry no
topics and are left out. A group belongs to the application instance whose ``resources`` claim
it (``CONSUMER_GROUP``, literal or prefixed). A group sluice knows is named by its node: an
exposure's ``consumer_group``, a Flink job's (``sluice.<project>.<model>``) or a sink
connector's (``connect-<project>-<model>``); other groups as ``consumer_group:<id>`` and
applications as ``application:<name>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sluice.manifest import Manifest
from sluice.naming import connector_group, job_name
from sluice.nodes import Node
from sluice.plugin.api import LineageEdge, StatusItem
from sluice.runtime import RunContext
from sluice_conduktor.compiler import PLUGIN, config_of
from sluice_conduktor.console import ConsoleClient, only_cluster


@dataclass(frozen=True)
class Consumer:
    """One consumer group as Console reports it."""

    group: str
    state: str
    members: int
    lag: int | None  # the group's lag over all it reads (Console gives no per-topic figure)
    max_lag_seconds: int | None
    topics: tuple[str, ...]
    application: str | None = None
    instance: str | None = None

    def facts(self) -> dict[str, Any]:
        found: dict[str, Any] = {"members": self.members, "lag": self.lag}
        if self.max_lag_seconds is not None:
            found["max_lag_seconds"] = self.max_lag_seconds
        if self.application:
            found |= {"application": self.application, "application_instance": self.instance}
        return found


def consumers(context: RunContext) -> list[Consumer] | None:
    """Every indexed consumer group of the project's cluster, or None without Console."""
    config = config_of(context.runtime)
    if config is None or config.console_api is None:
        return None
    with ConsoleClient.from_config(config) as console:
        cluster = only_cluster(config, console)
        groups = console.consumer_groups(cluster)
        claims = _group_claims(console.application_instances(), cluster)
    found = []
    for group in groups:
        if group.get("type") != "IndexedConsumerGroup":
            continue
        name = str(group["name"])
        owner = _owner(name, claims)
        found.append(
            Consumer(
                name,
                str(group.get("state") or "Unknown"),
                int(group.get("members") or 0),
                group.get("overallLag"),
                group.get("maxLagTimeInSeconds"),
                tuple(sorted(group.get("topics") or ())),
                *(owner or (None, None)),
            )
        )
    return found


# (pattern type, name, application, instance) of every group an instance claims on the cluster
Claim = tuple[str, str, str, str]


def _group_claims(instances: Sequence[Mapping[str, Any]], cluster: str) -> list[Claim]:
    claims = []
    for instance in instances:
        metadata, spec = instance.get("metadata") or {}, instance.get("spec") or {}
        if spec.get("cluster") != cluster:
            continue
        for resource in spec.get("resources") or ():
            if resource.get("type") == "CONSUMER_GROUP":
                claims.append(
                    (
                        str(resource.get("patternType")),
                        str(resource.get("name")),
                        str(metadata.get("application")),
                        str(metadata.get("name")),
                    )
                )
    return claims


def _owner(group: str, claims: Sequence[Claim]) -> tuple[str, str] | None:
    """The (application, instance) claiming ``group``: a literal claim, else the longest prefix."""
    best: tuple[int, str, str] | None = None
    for pattern, name, application, instance in claims:
        if pattern == "LITERAL" and name == group:
            return application, instance
        if (
            pattern == "PREFIXED"
            and group.startswith(name)
            and (best is None or len(name) > best[0])
        ):
            best = (len(name), application, instance)
    return (best[1], best[2]) if best else None


# -- lineage ----------------------------------------------------------------------------------


def edges(manifest: Manifest, context: RunContext) -> list[LineageEdge]:
    """``topic -> group`` (kind consumes, with the group's lag) for the project's topics, and
    ``group -> application`` for groups an application instance claims."""
    found = consumers(context)
    if not found:
        return []
    topics = topic_nodes(manifest.nodes.values())
    readers = group_nodes(manifest, context.project.info.name)
    result = []
    for consumer in found:
        reader = readers.get(consumer.group, f"consumer_group:{consumer.group}")
        read = [t for t in consumer.topics if t in topics]
        for topic in read:
            detail: dict[str, Any] = {"topic": topic, "consumer_group": consumer.group}
            detail |= {"state": consumer.state, **consumer.facts()}
            result.append(LineageEdge(topics[topic], reader, "consumes", detail=detail))
        if read and consumer.application:
            target = f"application:{consumer.application}"
            member = {"application_instance": consumer.instance}
            result.append(LineageEdge(reader, target, "belongs_to", detail=member))
    return result


def topic_nodes(nodes: Iterable[Node]) -> dict[str, str]:
    """topic -> the unique id of the source or model whose topic it is."""
    return {
        n.topic: n.unique_id for n in nodes if n.resource_type in ("source", "model") and n.topic
    }


def group_nodes(manifest: Manifest, project: str) -> dict[str, str]:
    """Consumer group -> the node that reads with it, for the groups sluice knows."""
    known = {}
    for uid, node in manifest.nodes.items():
        if node.resource_type == "exposure" and getattr(node.spec, "consumer_group", None):
            known[str(node.spec.consumer_group)] = uid
        elif node.resource_type == "model":
            # the group ids sluice-flink (pipeline.name) and Kafka Connect (connect-<name>) use
            known[job_name(project, node.name)] = uid
            known[connector_group(project, node.name)] = uid
    return known


# -- status -----------------------------------------------------------------------------------


def status(nodes: Sequence[Node], context: RunContext) -> list[StatusItem]:
    """Per selected source or model: each consumer group reading its topic, with its lag."""
    topics = topic_nodes(nodes)
    if not topics:
        return []
    found = consumers(context) or []
    items = []
    for consumer in found:
        for topic in consumer.topics:
            if topic in topics:
                resource = f"group:{consumer.group}"
                state = consumer.state.upper()
                items.append(StatusItem(topics[topic], PLUGIN, resource, state, consumer.facts()))
    return items
