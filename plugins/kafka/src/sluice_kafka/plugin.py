"""The hook implementations of sluice-kafka (thin: each hands over to a module).

Offline work is in :mod:`config`, :mod:`compiler` and :mod:`acls`; online work goes through one
:class:`~sluice_kafka.run.KafkaRun` per run (planner, applier, state, status). The online
modules (and confluent-kafka) and the dev services are imported by the hooks that need them,
so offline commands such as ``compile`` do not pay for loading them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sluice.compiler import CompileContext
from sluice.nodes import Node
from sluice.plugin import hookimpl
from sluice.plugin.api import (
    ApplyResult,
    Artifact,
    Change,
    ConfigSection,
    DevService,
    LineageEdge,
    Materialization,
    ProbeResult,
    StatusItem,
    TestResult,
)
from sluice.resolve import STANDARD_TEST_TYPES
from sluice.runtime import RunContext
from sluice_kafka import acls, compiler
from sluice_kafka.config import KafkaConfig, SchemaRegistryConfig, SchemaSettings

if TYPE_CHECKING:
    from sluice_kafka.run import KafkaRun


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    """``runtime.kafka`` (topics, ACLs, consumer groups), ``runtime.schema_registry``, and the
    ``schema:`` block of models and sources."""
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
        ConfigSection(
            "model", "schema", SchemaSettings, (), "a model's registry subject: level, schema file"
        ),
        ConfigSection("source", "schema", SchemaSettings, (), "a source's schema file"),
    ]


@hookimpl
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Cluster id and brokers, whether ACLs are enabled, whether the registry answers."""
    from sluice_kafka import status

    return status.probe(runtime, timeout)


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    """``topic``: a real Kafka topic, filled by a stream job running the model's SQL."""
    return [
        Materialization(
            "topic",
            ("topics",),
            "a real Kafka topic; with SQL, filled by a stream job running it, without SQL "
            "written by the applications that own it",
            sql="optional",
            needs_with_sql=("stream_jobs",),
        )
    ]


@hookimpl
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """A topic spec for models whose output Kafka holds; an existence check for sources; their
    registry subjects (avro or json) when a registry is configured."""
    return compiler.compile_node(node, context) or None


@hookimpl
def sluice_secure(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """Kafka ACL bindings for the ``access: {read, write}`` principals of a source or model,
    and those sluice's own jobs and connectors need (``runtime.kafka.own_acls``)."""
    if "kafka" not in context.runtime:
        return None
    artifact = acls.acl_artifact(node, context)
    return [artifact] if artifact else None


@hookimpl
def sluice_dev_services() -> Sequence[DevService]:
    """``kafka`` (a KRaft broker with PLAINTEXT and SASL listeners) and ``schema-registry``."""
    from sluice_kafka import devstack

    return devstack.dev_services()


@hookimpl
def sluice_plan(artifacts: Sequence[Artifact], context: RunContext) -> Sequence[Change] | None:
    """Topics, source checks and ACLs against one batched describe of the cluster; registry
    subjects (a changed schema is checked for compatibility first, a subject whose model left
    is deleted with ``--prune``)."""
    run = _run(context)
    return run.plan(artifacts) if run else None


@hookimpl
def sluice_apply_started(context: RunContext) -> None:
    """Take the lock of this project and environment in the state topic."""
    run = _run(context)
    if run is not None:
        run.started()


@hookimpl
def sluice_apply(change: Change, context: RunContext) -> ApplyResult | None:
    """Create, alter or delete one topic or set of ACL bindings, register or delete a
    subject, then record it."""
    run = _run(context)
    if change.plugin != compiler.PLUGIN or run is None:
        return None
    return run.apply(change)


@hookimpl
def sluice_apply_batch(
    changes: Sequence[Change], context: RunContext
) -> Sequence[ApplyResult] | None:
    """Topic creates of one step go to the brokers in one request, their ACL bindings in one
    request per kind (create, delete)."""
    run = _run(context)
    if run is None or any(c.plugin != compiler.PLUGIN for c in changes):
        return None
    return run.apply_batch(changes)


@hookimpl
def sluice_apply_finished(context: RunContext, results: Sequence[ApplyResult]) -> None:
    """Release the lock (after a failure too)."""
    run = _run(context)
    if run is not None:
        run.finished()


@hookimpl
def sluice_status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[StatusItem] | None:
    """Topics (exists, partitions, drift) and the lag of exposures' consumer groups."""
    run = _run(context)
    return run.status(nodes, artifacts) if run else None


@hookimpl
def sluice_test_types() -> Sequence[str]:
    """``sample``: check assertions on a bounded sample of a topic (JSON or Avro);
    ``schema``: the registry's subjects of a node match its declared columns;
    ``continuous``: under ``sluice test --watch``, check the records arriving meanwhile."""
    return list(STANDARD_TEST_TYPES)


@hookimpl
def sluice_run_test(test: Node, context: RunContext) -> TestResult | None:
    """Sample tests of nodes whose topic is on ``runtime.kafka``; schema tests against
    ``runtime.schema_registry``; continuous tests while ``sluice test --watch`` runs."""
    from sluice_kafka import sample_test, schema_test, watch

    return (
        sample_test.run(test, context) or schema_test.run(test, context) or watch.run(test, context)
    )


@hookimpl
def sluice_lineage(manifest: Any, context: RunContext | None) -> Sequence[LineageEdge] | None:
    """Online only: which consumer groups read which topics."""
    run = _run(context) if context is not None else None
    return run.lineage() if run else None


def _run(context: RunContext) -> KafkaRun | None:
    """This run's :class:`KafkaRun` (None without ``runtime.kafka``)."""
    from sluice_kafka.run import KafkaRun

    return KafkaRun.of(context)
