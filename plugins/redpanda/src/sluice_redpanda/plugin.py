"""The hook implementations of sluice-redpanda (thin: the work is in compiler and planner)."""

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
    Materialization,
    ProbeResult,
    StatusItem,
)
from sluice.runtime import RunContext
from sluice_redpanda import compiler, planner
from sluice_redpanda.config import CAPABILITIES, RedpandaConfig, TransformBlock


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    """``runtime.redpanda`` (Admin API, Redpanda Connect) and a model's ``transform:`` block."""
    return [
        ConfigSection(
            "runtime",
            "redpanda",
            RedpandaConfig,
            CAPABILITIES,
            "a Redpanda cluster's Admin API (data transforms, users) and Redpanda Connect",
        ),
        ConfigSection(
            "model", compiler.BLOCK, TransformBlock, (), "a transform's WebAssembly binary and env"
        ),
    ]


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    """``transform``: a Redpanda data transform (WebAssembly) from one topic to the model's."""
    return [
        Materialization(
            compiler.TRANSFORM,
            ("transforms",),
            "a Redpanda data transform (WebAssembly) from the input's topic to the model's topic",
            sql="forbidden",
            output_topic=True,
        )
    ]


@hookimpl
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """The deploy metadata (and binary hash) of a ``transform`` model."""
    artifact = compiler.compile_node(node, context)
    return [artifact] if artifact else None


@hookimpl
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Admin API ready, brokers and versions, transforms enabled, Redpanda Connect ready."""
    return planner.probe(runtime, timeout)


@hookimpl
def sluice_plan(artifacts: Sequence[Artifact], context: RunContext) -> Sequence[Change] | None:
    """Compiled transforms against ``GET /v1/transform``; owned orphans."""
    return planner.plan(artifacts, context) or None


@hookimpl
def sluice_apply(change: Change, context: RunContext) -> ApplyResult | None:
    """Deploy (and await) or delete one transform."""
    if change.plugin != compiler.PLUGIN:
        return None
    return planner.apply(change, context)


@hookimpl
def sluice_status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[StatusItem] | None:
    """Each transform: running, pending, errored, drifted or missing."""
    return planner.status(nodes, artifacts, context) or None
