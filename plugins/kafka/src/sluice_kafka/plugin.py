"""The hook implementations of sluice-kafka (thin: the work is in config and compiler)."""

from __future__ import annotations

from collections.abc import Sequence

from sluice.compiler import CompileContext
from sluice.nodes import Node
from sluice.plugin import hookimpl
from sluice.plugin.api import Artifact, ConfigSection, DevService, Materialization
from sluice_kafka import compiler, devstack
from sluice_kafka.config import KafkaConfig, SchemaRegistryConfig


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    """``runtime.kafka`` (topics, ACLs, consumer groups) and ``runtime.schema_registry``."""
    return [
        ConfigSection(
            "runtime",
            "kafka",
            KafkaConfig,
            ("topics", "acls", "consumer_groups"),
            "an Apache Kafka (or Kafka-compatible) cluster",
        ),
        ConfigSection(
            "runtime", "schema_registry", SchemaRegistryConfig, ("schemas",), "a Schema Registry"
        ),
    ]


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    """``topic``: a real Kafka topic, filled by a stream job running the model's SQL."""
    return [
        Materialization(
            "topic",
            ("topics",),
            "a real Kafka topic, filled by a stream job running the model's SQL",
            sql="required",
            needs_with_sql=("stream_jobs",),
        )
    ]


@hookimpl
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """A topic spec for models whose output Kafka holds; an existence check for sources."""
    return compiler.compile_node(node, context) or None


@hookimpl
def sluice_secure(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """Kafka ACLs for a model's ``access: {read, write}`` principals."""
    if "kafka" not in context.runtime:
        return None
    artifact = compiler.acl_artifact(node)
    return [artifact] if artifact else None


@hookimpl
def sluice_dev_services() -> Sequence[DevService]:
    """``kafka`` (a KRaft broker with PLAINTEXT and SASL listeners) and ``schema-registry``."""
    return devstack.dev_services()
