"""The hook implementations of sluice-connect (thin: the work is in config and compiler)."""

from __future__ import annotations

from collections.abc import Sequence

from sluice.compiler import CompileContext
from sluice.nodes import Node
from sluice.plugin import hookimpl
from sluice.plugin.api import Artifact, ConfigSection, DevService, Materialization
from sluice_connect import compiler, devstack
from sluice_connect.config import ConnectConfig, ConnectorConfig


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
    """The connector of a sink, or of a source filled by a connector."""
    connector = compiler.compile_connector(node, context)
    return [connector] if connector else None


@hookimpl
def sluice_dev_services() -> Sequence[DevService]:
    """``postgres`` (PostgreSQL from the system's packages) and ``connect`` (a Connect worker)."""
    return devstack.dev_services()
