"""Compiling sinks (and sources filled by a connector) into Kafka Connect connector configs.

``${VAR}`` references in a connector's ``config:`` stay unresolved in the artifact: the core
resolves every ``${VAR}`` when it loads the project, so this module reads the value as written
in the YAML and keeps the reference whenever the text had one. The variable is resolved only
when the connector is applied, and compiled files never hold the secret it may carry.

Keys sluice sets itself, besides the class, the task count, the topics and the converters:

- a sink model with ``key:`` and the Debezium JDBC sink writes by upsert on that key
  (``insert.mode=upsert``, ``primary.key.mode=record_value``, ``primary.key.fields``) unless
  its ``connector.config`` says otherwise;
- a JDBC sink reading JSON gets the schema of its input's columns as its value converter's
  ``schema.content`` (see ``sluice_connect.schema``), unless its ``connector.config`` sets
  ``value.converter*`` itself: these sinks need records with a schema, and plain JSON has none;
- a sink model with ``dlq: <topic>`` tolerates bad records and sends them to that topic with
  the error in their headers (``errors.tolerance=all``, ``errors.deadletterqueue.*``). The
  spec's ``dlq`` entry says which topic sluice creates (through ``runtime.kafka``) before it
  puts the config; the core accepts only a plugin's own artifacts from its compile hook, so
  the topic cannot be handed to sluice-kafka as a topic artifact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sluice.compiler import CompileContext
from sluice.errors import ProjectError, did_you_mean
from sluice.naming import connector_name
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.runtime import read_bootstrap
from sluice_connect.config import SHORT_CLASSES, ConnectorConfig, DeadLetterQueue
from sluice_connect.schema import struct_schema

PLUGIN = "connect"
JDBC_SINK = "io.debezium.connector.jdbc.JdbcSinkConnector"
# sinks that write rows into tables and so fail on records without a schema
_SCHEMA_SINKS = {JDBC_SINK, "io.confluent.connect.jdbc.JdbcSinkConnector"}
_UPSERT_KEYS = ("insert.mode", "primary.key.mode", "primary.key.fields")
RESERVED = {"connector.class": "class", "tasks.max": "tasks_max", "name": "the node's name"}
_SECRET_KEY = re.compile(r"password|passwd|secret|token|api\.?key|credential", re.IGNORECASE)
_JSON = "org.apache.kafka.connect.json.JsonConverter"
_REGISTRY_CONVERTERS = {
    "avro": "io.confluent.connect.avro.AvroConverter",
    "protobuf": "io.confluent.connect.protobuf.ProtobufConverter",
}
_PLAIN_CONVERTERS = {
    "csv": "org.apache.kafka.connect.storage.StringConverter",
    "raw": "org.apache.kafka.connect.converters.ByteArrayConverter",
}


def compile_node(node: Node, context: CompileContext) -> list[Artifact]:
    """The connector of ``node`` (a sink's carries its dead letter topic), if it has one."""
    connector = compile_connector(node, context)
    return [connector] if connector else []


def dlq_topic(topic: str, context: CompileContext) -> dict[str, Any]:
    """The dead letter topic sluice creates before the connector (declared settings only)."""
    defaults = context.project.defaults.topic
    return {
        "topic": topic,
        "partitions": defaults.partitions,
        "replication_factor": defaults.replication_factor,
    }


def compile_connector(node: Node, context: CompileContext) -> Artifact | None:
    """The connector of a ``sink`` model or of a source with a ``connector:`` block."""
    if node.resource_type not in ("model", "source"):
        return None
    block: ConnectorConfig | None = node.spec.extensions.get("connector")
    dlq: DeadLetterQueue | None = node.spec.extensions.get("dlq")
    what = f"{node.resource_type} '{node.name}'"
    if dlq is not None:
        _check_dlq(node, context)
    # a sink another plugin runs (Redpanda Connect) is not a connector
    if node.resource_type == "model" and (node.materialized != "sink" or node.plugin != PLUGIN):
        if block is not None:
            raise ProjectError(
                f"{what} has a connector: block but is materialized as {node.materialized}",
                location=context.project.origin(node.unique_id).locate("connector", key=True),
                hint="remove connector:, or make the model a sink (materialized: sink, from: ...)",
            )
        return None
    if block is None:
        if node.resource_type == "source":
            return None
        raise ProjectError(
            f"{what} is a sink but has no connector: block",
            location=context.location(node, "name"),
            hint="add connector: { class: jdbc, config: {...} }",
        )
    name = connector_name(context.project.info.name, node.name)
    config = {
        "connector.class": _class_name(block, node, context),
        "tasks.max": str(block.tasks_max),
    }
    if node.resource_type == "model":
        config["topics"] = ",".join(_input_topics(node, context))
        # a topic a proxy serves (a Gateway virtual topic) is consumed through the proxy, which
        # passes the other inputs' topics through as well
        proxies = sorted(
            filter(None, (read_bootstrap(u, context.runtime) for u in context.upstream(node)))
        )
        if proxies:
            config["consumer.override.bootstrap.servers"] = proxies[0]
        if any(context.written_in_transactions(u) for u in context.upstream(node)):
            # an exactly-once topic: rows of aborted (or still open) transactions never arrive
            config["consumer.override.isolation.level"] = "read_committed"
    config |= converters(_format(node, context), context.runtime, node, context)
    if dlq is not None:
        config |= dlq_config(dlq.topic, context)
    user = _user_config(block, node, context)
    keys = tuple(getattr(node.spec, "key", ()) or ())
    if _needs_json_schema(config, user):
        config |= _json_schema_config(node, keys, context)
    if keys and config["connector.class"] == JDBC_SINK and not set(_UPSERT_KEYS) & set(user):
        config |= {
            "insert.mode": "upsert",
            "primary.key.mode": "record_value",
            "primary.key.fields": ",".join(keys),
        }
    config |= user
    spec: dict[str, Any] = {"name": name, "config": dict(sorted(config.items()))}
    if dlq is not None:
        spec["dlq"] = dlq_topic(dlq.topic, context)
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    return Artifact(PLUGIN, "connector", name, spec, file=f"{name}.json", text=text)


def _needs_json_schema(config: Mapping[str, str], user: Mapping[str, str]) -> bool:
    table_sink = config["connector.class"] in _SCHEMA_SINKS
    declared = any(key.startswith("value.converter") for key in user)
    return table_sink and config["value.converter"] == _JSON and not declared


def _json_schema_config(
    node: Node, keys: tuple[str, ...], context: CompileContext
) -> dict[str, str]:
    """The value converter settings that give a table sink the schema of its JSON input."""
    schemas = [struct_schema(u.columns, keys) for u in context.upstream(node)]
    if not schemas or any(s is None or s != schemas[0] for s in schemas):
        raise ProjectError(
            f"sink '{node.name}' writes rows to a table, which needs the type of every column, "
            "but its input's columns are not all known (or its inputs differ)",
            location=context.location(node, "from"),
            hint="declare columns with types on the source it reads (columns: [{name, type}]), "
            "or set value.converter and its settings in connector.config",
        )
    return {
        "value.converter.schemas.enable": "true",
        "value.converter.schema.content": json.dumps(schemas[0], separators=(",", ":")),
    }


def _class_name(block: ConnectorConfig, node: Node, context: CompileContext) -> str:
    found = block.class_name()
    if found is not None:
        return found
    raise ProjectError(
        f"{node.resource_type} '{node.name}': unknown connector class '{block.class_}'",
        location=context.location(node, "connector", "class"),
        hint=did_you_mean(block.class_, SHORT_CLASSES)
        or "short names: " + ", ".join(sorted(SHORT_CLASSES)) + "; or write the full Java class",
    )


def _input_topics(node: Node, context: CompileContext) -> list[str]:
    topics = []
    for upstream in context.upstream(node):
        if not upstream.topic:
            raise ProjectError(
                f"sink '{node.name}' reads '{upstream.name}', which has no topic",
                location=context.location(node, "from"),
                hint="a sink reads sources and models materialized as topics",
            )
        topics.append(upstream.topic)
    return topics


def _format(node: Node, context: CompileContext) -> str:
    if node.resource_type == "model" and node.spec.format is None:
        formats = sorted({u.format or "json" for u in context.upstream(node)})
        if len(formats) > 1:
            raise ProjectError(
                f"sink '{node.name}' reads topics of different formats ({', '.join(formats)})",
                location=context.location(node, "from"),
                hint="split it into one sink per format, or set format: and the converters",
            )
    return node.format or "json"


def converters(
    fmt: str, runtime: Mapping[str, Any], node: Node, context: CompileContext
) -> dict[str, str]:
    """Key and value converters for records of format ``fmt``."""
    config: dict[str, str] = {}
    for side in ("key", "value"):
        prefix = f"{side}.converter"
        if fmt == "json":
            config[prefix] = _JSON
            config[f"{prefix}.schemas.enable"] = "false"
        elif fmt in _REGISTRY_CONVERTERS:
            registry = runtime.get("schema_registry")
            if registry is None:
                raise ProjectError(
                    f"{node.resource_type} '{node.name}': format {fmt} needs the Schema "
                    "Registry, but runtime.schema_registry is not configured",
                    location=context.location(node, "name"),
                    hint="add runtime.schema_registry.url",
                )
            config[prefix] = _REGISTRY_CONVERTERS[fmt]
            config[f"{prefix}.schema.registry.url"] = registry.url
            if getattr(registry, "basic_auth_user", None):
                # resolved by the runner when it applies the connector; never compiled in
                secret = "{{secret:schema_registry.basic_auth_password}}"
                config[f"{prefix}.basic.auth.credentials.source"] = "USER_INFO"
                config[f"{prefix}.basic.auth.user.info"] = f"{registry.basic_auth_user}:{secret}"
        else:
            config[prefix] = _PLAIN_CONVERTERS[fmt]
    return config


def _user_config(block: ConnectorConfig, node: Node, context: CompileContext) -> dict[str, str]:
    """The block's ``config:``; ``${VAR}`` references stay as written (resolved at apply)."""
    config = {}
    for key, value in block.config.items():
        where = context.location(node, "connector", "config", key)
        if key in RESERVED:
            raise ProjectError(
                f"{node.resource_type} '{node.name}': connector config may not set '{key}'",
                location=where,
                hint=f"sluice sets it from {RESERVED[key]}",
            )
        if _SECRET_KEY.search(key) and value and "${" not in value:
            raise ProjectError(
                f"{node.resource_type} '{node.name}': connector config '{key}' holds a "
                "literal secret, which would be written to target/",
                location=where,
                hint=f"reference an environment variable instead: {key}: ${{MY_SECRET}}",
            )
        config[key] = value
    return config


def dlq_config(topic: str, context: CompileContext) -> dict[str, str]:
    """Tolerate bad records and send them to ``topic`` with the error in their headers."""
    config = {
        "errors.tolerance": "all",
        "errors.log.enable": "true",
        "errors.deadletterqueue.topic.name": topic,
        "errors.deadletterqueue.context.headers.enable": "true",
    }
    replication = context.project.defaults.topic.replication_factor
    if replication:
        # the worker would create a missing topic with 3 replicas; sluice-kafka creates it
        config["errors.deadletterqueue.topic.replication.factor"] = str(replication)
    return config


def _check_dlq(node: Node, context: CompileContext) -> None:
    where = context.project.origin(node.unique_id).locate("dlq", key=True)
    if node.resource_type != "model" or node.materialized != "sink":
        raise ProjectError(
            f"{node.resource_type} '{node.name}' has dlq:, which only sinks support",
            location=where,
            hint="remove dlq:, or make it a sink (materialized: sink, from: ...)",
        )
    if "kafka" not in context.runtime:
        raise ProjectError(
            f"sink '{node.name}' has dlq:, and sluice creates that topic through "
            "runtime.kafka, which is not configured",
            location=where,
            hint="add runtime.kafka (plugin sluice-kafka), or remove dlq:",
        )
