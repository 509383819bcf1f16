"""Compiling nodes into what Kafka must hold: topic specs, checks on source topics, subjects.

A topic spec carries only what the project declares (``defaults.topic`` overlaid with the
model's ``topic:``); what nobody declared is None, so plan compares only declared settings and
leaves the broker's defaults alone. ACL bindings are compiled by :mod:`sluice_kafka.acls`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sluice.compiler import CompileContext
from sluice.errors import Location, ProjectError
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project.schema import Defaults, Model, Source
from sluice_kafka.config import SchemaSettings
from sluice_kafka.schemas import SCHEMA_TYPES, SchemaBuildError, build_schema

PLUGIN = "kafka"


def compile_node(node: Node, context: CompileContext) -> list[Artifact]:
    """The topic (for a model) or the existence check (for a source) ``node`` needs, and
    their registry subjects when ``runtime.schema_registry`` is configured."""
    if "kafka" not in context.runtime:
        return []
    if node.resource_type == "source" and isinstance(node.spec, Source):
        return [source_topic(node.spec), *schema_artifacts(node, context)]
    # node.real_topic: its kind's output is a topic on the brokers (not a Gateway virtual
    # topic, not a sink's external system), whichever plugin provides the kind
    if node.resource_type == "model" and node.real_topic and node.topic:
        topic = topic_artifact(node.topic, node.spec, context.project.defaults)
        return [topic, *schema_artifacts(node, context)]
    # a continuous test: the topic its job writes violations to
    if node.resource_type == "test" and node.real_topic and node.topic:
        return [violations_artifact(node.topic, context.project.defaults)]
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


# Violations are few and read in order by `sluice test`: one partition, kept for a week.
VIOLATIONS_CONFIG = {"cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)}


def violations_artifact(name: str, defaults: Defaults) -> Artifact:
    """The topic of a continuous test's violations (replicated as ``defaults.topic`` says)."""
    spec = {
        "name": name,
        "partitions": 1,
        "replication_factor": defaults.topic.replication_factor,
        "config": dict(VIOLATIONS_CONFIG),
    }
    return Artifact(PLUGIN, "topic", name, spec, file="topics.json")


# -- registry subjects ------------------------------------------------------------------------


def schema_artifacts(node: Node, context: CompileContext) -> list[Artifact]:
    """``schema`` artifacts (a model's subjects, which sluice registers) or ``source_schema``
    ones (a source's, which sluice only checks), named by the TopicNameStrategy.

    Only with a registry, for avro and json topics whose columns (or schema file) say what the
    records hold; a JSON topic with untyped columns simply has no subject.
    """
    fmt = node.format or "json"
    if "schema_registry" not in context.runtime or fmt not in SCHEMA_TYPES or not node.topic:
        return []
    settings = node.spec.extensions.get("schema") or SchemaSettings()
    kind = "source_schema" if node.resource_type == "source" else "schema"
    value = _file_schema(node, settings, context) if settings.file else None
    if value is None:
        value = _columns_schema(node, node.columns, fmt, context, node.topic)
    if value is None:
        return []
    artifacts = [_schema_artifact(kind, f"{node.topic}-value", fmt, value, settings)]
    key_columns = [c for name in node.key for c in node.columns if c.name == name]
    if key_columns and len(key_columns) == len(node.key) and kind == "schema":
        key = _columns_schema(node, key_columns, fmt, context, f"{node.topic}-key", node.updating)
        if key is not None:
            artifacts.append(_schema_artifact(kind, f"{node.topic}-key", fmt, key, settings))
    return artifacts


def _schema_artifact(
    kind: str, subject: str, fmt: str, schema: Any, settings: SchemaSettings
) -> Artifact:
    spec: dict[str, Any] = {"subject": subject, "schemaType": SCHEMA_TYPES[fmt], "schema": schema}
    if kind == "schema":
        spec["compatibility"] = settings.compatibility
    return Artifact(PLUGIN, kind, subject, spec, file="schemas.json")


def _columns_schema(
    node: Node,
    columns: Sequence[Any],
    fmt: str,
    context: CompileContext,
    title: str,
    not_null: bool = False,
) -> Any:
    if not columns:
        return None
    untyped = [c.name for c in columns if not c.type]
    if untyped:
        if fmt == "json":
            return None
        raise ProjectError(
            f"{node.resource_type} '{node.name}': format avro needs the type of column "
            f"'{untyped[0]}' to build its registry schema",
            location=_column_location(node, untyped[0], context),
            hint=f"declare it, e.g. - {{ name: {untyped[0]}, type: STRING }}, or give a schema "
            "file with schema: { file: ... }",
        )
    # a primary key (an updating topic's key) is never null
    typed = [
        (c.name, f"{c.type} NOT NULL" if not_null and "NOT NULL" not in c.type.upper() else c.type)
        for c in columns
    ]
    try:
        return build_schema(fmt, typed, title)
    except SchemaBuildError as exc:
        column = str(exc).split("'")[1] if str(exc).startswith("column '") else None
        raise ProjectError(
            f"{node.resource_type} '{node.name}': cannot build its {fmt} schema: {exc}",
            location=_column_location(node, column, context),
            hint="use a type the format can hold, or give a schema file with schema: { file: ... }",
        ) from None


def _file_schema(node: Node, settings: SchemaSettings, context: CompileContext) -> Any:
    assert settings.file is not None
    path = context.project.root / settings.file
    where = context.location(node, "schema", "file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(
            f"{node.resource_type} '{node.name}': schema file '{settings.file}' does not exist",
            location=where,
            hint="give the path relative to the project directory",
        ) from None
    except ValueError as exc:
        raise ProjectError(
            f"{node.resource_type} '{node.name}': schema file '{settings.file}' is not JSON: {exc}",
            location=where,
            hint="an Avro schema (.avsc) or a JSON Schema, both written as JSON",
        ) from None


def _column_location(node: Node, column: str | None, context: CompileContext) -> Location:
    for index, declared in enumerate(node.spec.columns):
        if declared.name == column:
            return context.location(node, "columns", index)
    return context.location(node, "name")
