"""Compiling nodes into what Kafka must hold: topic specs, checks on source topics, ACLs.

A topic spec carries only what the project declares (``defaults.topic`` overlaid with the
model's ``topic:``); what nobody declared is None, so plan compares only declared settings and
leaves the broker's defaults alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.compiler import CompileContext
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project.schema import Defaults, Model, Source

PLUGIN = "kafka"

# Kinds whose output is a real topic on the brokers. A virtual_topic lives in the Gateway and
# a sink writes to another system, so neither needs a topic of its own.
TOPIC_KINDS = frozenset({"topic", "flink"})


def compile_node(node: Node, context: CompileContext) -> list[Artifact]:
    """The topic (for a model) or the existence check (for a source) ``node`` needs."""
    if "kafka" not in context.runtime:
        return []
    if node.resource_type == "source" and isinstance(node.spec, Source):
        return [source_topic(node.spec)]
    if node.resource_type == "model" and node.materialized in TOPIC_KINDS and node.topic:
        return [topic_artifact(node.topic, node.spec, context.project.defaults)]
    return []


def source_topic(source: Source) -> Artifact:
    # a topic filled by a source connector may not exist before the connector runs
    must_exist = "connector" not in source.extensions
    spec = {"name": source.topic, "must_exist": must_exist}
    return Artifact(PLUGIN, "source_topic", source.topic, spec)


def topic_artifact(name: str, model: Model, defaults: Defaults) -> Artifact:
    return Artifact(PLUGIN, "topic", name, topic_spec(name, model, defaults), file="topics.json")


def topic_spec(name: str, model: Model, defaults: Defaults) -> dict[str, Any]:
    """``{name, partitions, replication_factor, config}`` with the declared settings only."""
    declared = model.topic
    base = defaults.topic
    partitions = declared.partitions if declared and declared.partitions else base.partitions
    replication = (
        declared.replication_factor
        if declared and declared.replication_factor
        else base.replication_factor
    )
    config = dict(base.config)
    if declared:
        config.update(declared.config)
    return {
        "name": name,
        "partitions": partitions,
        "replication_factor": replication,
        "config": dict(sorted(config.items())),
    }


def acl_artifact(node: Node) -> Artifact | None:
    """ACL bindings for a model's ``access:`` block, on the topic Kafka holds for it."""
    model = node.spec
    if not isinstance(model, Model) or node.materialized not in TOPIC_KINDS or not node.topic:
        return None
    bindings = acl_bindings(node.topic, model.access.read, model.access.write)
    if not bindings:
        return None
    return Artifact(
        PLUGIN, "acls", node.topic, {"topic": node.topic, "bindings": bindings}, file="acls.json"
    )


# Readers need READ (which implies DESCRIBE) and DESCRIBE_CONFIGS (clients read
# cleanup.policy and friends); writers need WRITE (which implies DESCRIBE).
_OPERATIONS: Mapping[str, Sequence[str]] = {
    "read": ("READ", "DESCRIBE_CONFIGS"),
    "write": ("WRITE",),
}


def acl_bindings(
    topic: str, readers: Sequence[str], writers: Sequence[str]
) -> list[dict[str, str]]:
    """One ALLOW binding per (principal, operation) on the literal topic name, sorted."""
    wanted = {
        (principal, operation)
        for access, principals in (("read", readers), ("write", writers))
        for principal in principals
        for operation in _OPERATIONS[access]
    }
    return [
        {
            "resource_type": "TOPIC",
            "pattern_type": "LITERAL",
            "resource_name": topic,
            "principal": principal,
            "host": "*",
            "operation": operation,
            "permission": "ALLOW",
        }
        for principal, operation in sorted(wanted)
    ]
