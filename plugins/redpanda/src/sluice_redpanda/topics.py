"""Topic configs on a Redpanda cluster: ``redpanda.*`` keys checked at compile time, Kafka keys
Redpanda ignores or lacks warned of at plan time.

sluice-kafka creates the topics (Redpanda speaks Kafka) and passes every config as written;
this module only reads the project. The property names come from Redpanda's topic property
reference and the names its Kafka layer accepts (``src/v/kafka/server/handlers/topics/
types.h`` and ``kafka/protocol/topic_properties.h`` in redpanda-data/redpanda), including the
list of Kafka properties it accepts and ignores (``allowlist_topic_noop_confs``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sluice.compiler import CompileContext
from sluice.errors import Location, ProjectError, ProjectErrors, SluiceError, did_you_mean
from sluice.nodes import Node
from sluice.plugin.api import PlanWarning
from sluice.project.schema import Model
from sluice.runtime import RunContext
from sluice_redpanda.locate import project_setting

PLUGIN = "redpanda"
PREFIX = "redpanda."

# Redpanda's own topic properties; the boolean ones take "true" or "false"
REDPANDA_BOOLEANS = frozenset(
    {
        "redpanda.remote.read",
        "redpanda.remote.write",
        "redpanda.remote.delete",
        "redpanda.remote.recovery",
        "redpanda.remote.allowgaps",
        "redpanda.iceberg.delete",
        "redpanda.key.schema.id.validation",
        "redpanda.value.schema.id.validation",
        "redpanda.cloud_topic.enabled",
    }
)
REDPANDA_PROPERTIES = REDPANDA_BOOLEANS | {
    "redpanda.remote.readreplica",
    "redpanda.iceberg.mode",
    "redpanda.iceberg.partition.spec",
    "redpanda.iceberg.invalid.record.action",
    "redpanda.iceberg.target.lag.ms",
    "redpanda.key.subject.name.strategy",
    "redpanda.value.subject.name.strategy",
    "redpanda.leaders.preference",
    "redpanda.replicas.preference",
    "redpanda.storage.mode",
    "redpanda.virtual.cluster.id",
}
ICEBERG_MODES = ("key_value", "value_schema_id_prefix", "value_schema_latest", "disabled")

# Kafka topic properties Redpanda applies
KAFKA_SUPPORTED = frozenset(
    {
        "cleanup.policy",
        "compression.type",
        "retention.ms",
        "retention.bytes",
        "retention.local.target.ms",
        "retention.local.target.bytes",
        "initial.retention.local.target.ms",
        "initial.retention.local.target.bytes",
        "segment.ms",
        "segment.bytes",
        "max.message.bytes",
        "message.timestamp.type",
        "message.timestamp.before.max.ms",
        "message.timestamp.after.max.ms",
        "delete.retention.ms",
        "min.compaction.lag.ms",
        "max.compaction.lag.ms",
        "min.cleanable.dirty.ratio",
        "compaction.strategy",
        "replication.factor",
        "write.caching",
        "flush.ms",
        "flush.bytes",
        "confluent.key.schema.validation",
        "confluent.key.subject.name.strategy",
        "confluent.value.schema.validation",
        "confluent.value.subject.name.strategy",
    }
)
# Kafka topic properties Redpanda accepts and does nothing with
KAFKA_IGNORED = frozenset(
    {
        "unclean.leader.election.enable",
        "message.downconversion.enable",
        "segment.index.bytes",
        "segment.jitter.ms",
        "min.insync.replicas",
        "message.timestamp.difference.max.ms",
        "message.format.version",
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "flush.messages",
        "file.delete.delay.ms",
        "preallocate",
    }
)
# what to write instead, for Kafka properties whose Redpanda counterpart has another name
INSTEAD = {
    "remote.storage.enable": "redpanda.remote.write and redpanda.remote.read",
    "local.retention.ms": "retention.local.target.ms",
    "local.retention.bytes": "retention.local.target.bytes",
    "message.timestamp.difference.max.ms": (
        "message.timestamp.before.max.ms and message.timestamp.after.max.ms"
    ),
}


# -- compile ----------------------------------------------------------------------------------


def check_node(node: Node, context: CompileContext) -> None:
    """The ``redpanda.*`` keys of a model's own ``topic.config`` (file, line, did you mean)."""
    model = node.spec
    if node.resource_type != "model" or not isinstance(model, Model) or model.topic is None:
        return
    what = f"model '{node.name}'"
    origin = context.project.origin(node.unique_id)
    _raise(
        [
            _key_error(what, key, value, origin.locate("topic", "config", key, key=True))
            for key, value in model.topic.config.items()
        ]
    )


def check_defaults(context: CompileContext) -> None:
    """The ``redpanda.*`` keys of ``defaults.topic.config`` (checked once per compile)."""
    project = context.project
    errors = []
    for key, value in project.defaults.topic.config.items():
        where = project_setting(project, ("defaults", "topic", "config", key), key=True)
        errors.append(_key_error("defaults.topic", key, value, where[1] if where else None))
    _raise(errors)


def _key_error(what: str, key: str, value: str, location: Location | None) -> SluiceError | None:
    if not key.startswith(PREFIX):
        return None
    if key not in REDPANDA_PROPERTIES:
        return ProjectError(
            f"{what}: topic config '{key}' is not a topic property Redpanda knows",
            location=location,
            hint=did_you_mean(key, REDPANDA_PROPERTIES)
            or "Redpanda's own properties: " + ", ".join(sorted(REDPANDA_PROPERTIES)),
        )
    if key in REDPANDA_BOOLEANS and value not in ("true", "false"):
        return ProjectError(
            f"{what}: topic config '{key}' is '{value}'; it takes true or false",
            location=location,
        )
    mode = value.split(":", 1)[0]  # value_schema_latest may carry options after a colon
    if key == "redpanda.iceberg.mode" and mode not in ICEBERG_MODES:
        return ProjectError(
            f"{what}: topic config '{key}' is '{value}', which is not an Iceberg mode",
            location=location,
            hint=did_you_mean(value, ICEBERG_MODES) or "modes: " + ", ".join(ICEBERG_MODES),
        )
    return None


def _raise(found: list[SluiceError | None]) -> None:
    errors = [e for e in found if e is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)


# -- plan -------------------------------------------------------------------------------------


def plan_warnings(context: RunContext) -> list[PlanWarning]:
    """One warning per Kafka config key (of the selected models' topics) that Redpanda
    ignores or does not support, naming the topics that set it."""
    topics: dict[str, list[tuple[str, str]]] = {}  # key -> [(topic, node)]
    for uid, topic, config in _selected_topics(context):
        for key in config:
            if not key.startswith(PREFIX) and key not in KAFKA_SUPPORTED:
                topics.setdefault(key, []).append((topic, uid))
    return [_warning(key, found) for key, found in sorted(topics.items())]


def _selected_topics(context: RunContext) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    defaults = context.project.defaults.topic.config
    for uid in sorted(context.selected):
        node = context.manifest.nodes.get(uid)
        if node is None or not isinstance(node.spec, Model) or not node.real_topic:
            continue
        if node.topic:
            own = node.spec.topic.config if node.spec.topic else {}
            yield uid, node.topic, {**defaults, **own}


def _warning(key: str, found: list[tuple[str, str]]) -> PlanWarning:
    names = ", ".join(sorted(topic for topic, _ in found))
    where = f"topic{'s' if len(found) > 1 else ''} {names}"
    if key in KAFKA_IGNORED:
        text = f"topic config {key} ({where}): Redpanda accepts it and ignores it"
    else:
        text = f"topic config {key} ({where}) is not a topic property Redpanda supports"
    if key in INSTEAD:
        text += f"; use {INSTEAD[key]}"
    return PlanWarning(PLUGIN, text, node=found[0][1] if len(found) == 1 else None)
