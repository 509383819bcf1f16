"""The hook implementations of sluice-connect (thin: the work is in compiler and planner).

The online modules (and httpx) and the dev services are imported by the hooks that need them,
so offline commands such as ``compile`` do not pay for loading them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.compiler import CompileContext
from sluice.nodes import Node
from sluice.plugin import hookimpl
from sluice.plugin.api import (
    ApplyResult,
    Artifact,
    Change,
    ConfigSection,
    DevService,
    Materialization,
    ProbeResult,
    StatusItem,
)
from sluice.runtime import RunContext
from sluice_connect import compiler
from sluice_connect.config import ConnectConfig, ConnectorConfig, DeadLetterQueue


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    """``runtime.connect`` (connectors) and the ``connector:`` block of models and sources."""
    return [
        ConfigSection(
            "runtime", "connect", ConnectConfig, ("connectors",), "a Kafka Connect cluster"
        ),
        ConfigSection(
            "model", "connector", ConnectorConfig, (), "a sink's connector", keep_variables=True
        ),
        ConfigSection(
            "source", "connector", ConnectorConfig, (), "a source's connector", keep_variables=True
        ),
        ConfigSection("model", "dlq", DeadLetterQueue, (), "a sink's dead letter topic"),
    ]


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    """``sink``: a Kafka Connect connector writing the inputs' topics to another system."""
    return [
        Materialization(
            "sink",
            ("connectors",),
            "a Kafka Connect connector writing the inputs' topics to another system",
            sql="forbidden",
            output_topic=False,
        )
    ]


@hookimpl
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """The connector of a sink (and its dead letter topic), or of a source's connector."""
    return compiler.compile_node(node, context) or None


@hookimpl
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """The worker's version and its installed connector plugins."""
    from sluice_connect import planner

    return planner.probe(runtime, timeout)


@hookimpl
def sluice_plan(artifacts: Sequence[Artifact], context: RunContext) -> Sequence[Change] | None:
    """Declared connector configs against one read of every live connector and its status."""
    from sluice_connect import planner

    return planner.plan(artifacts, context) or None


@hookimpl
def sluice_apply(change: Change, context: RunContext) -> ApplyResult | None:
    """Put one connector's config (secrets resolved now) and wait until it runs; or delete."""
    if change.plugin != compiler.PLUGIN:
        return None
    from sluice_connect import planner

    return planner.apply(change, context)


@hookimpl
def sluice_status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[StatusItem] | None:
    """Connector and task states, and the trace of what failed."""
    from sluice_connect import planner

    return planner.status(nodes, artifacts, context) or None


@hookimpl
def sluice_dev_services() -> Sequence[DevService]:
    """``postgres`` (PostgreSQL from the system's packages) and ``connect`` (a Connect worker)."""
    from sluice_connect import devstack

    return devstack.dev_services()
