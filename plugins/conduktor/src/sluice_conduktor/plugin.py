"""The hook implementations of sluice-conduktor (thin: the work is in the other modules).

The online modules (and httpx, which they use) are imported by the hooks that need them, so
offline commands such as ``compile`` do not pay for loading them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.compiler import CompileContext
from sluice.manifest import Manifest
from sluice.nodes import Node
from sluice.plugin import hookimpl
from sluice.plugin.api import (
    ApplyResult,
    Artifact,
    Change,
    ConfigSection,
    LineageEdge,
    Materialization,
    ProbeResult,
    StatusItem,
)
from sluice.runtime import RunContext
from sluice_conduktor import compiler, rbac
from sluice_conduktor.config import CAPABILITIES, ConduktorConfig


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    """``runtime.conduktor``: Gateway admin API, its Kafka endpoint, Console and its key."""
    return [
        ConfigSection(
            "runtime",
            "conduktor",
            ConduktorConfig,
            CAPABILITIES,
            "Conduktor Gateway (virtual topics, masking) and Console (RBAC, runtime lineage)",
        )
    ]


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    """``virtual_topic``: a Gateway SQL topic; only for SQL the Gateway can run."""
    return [
        Materialization(
            compiler.VIRTUAL_TOPIC,
            ("virtual_topics",),
            "a Conduktor Gateway virtual (SQL) topic: filtered, projected, no real topic",
            real_topic=False,
            check=compiler.check,
            # readers (Flink jobs, connectors, sample tests) consume it through the Gateway
            served_at="conduktor.proxy_bootstrap",
        )
    ]


@hookimpl
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """The SQL topic interceptor of a ``virtual_topic`` model."""
    if node.resource_type == "model" and node.materialized == compiler.VIRTUAL_TOPIC:
        return [compiler.compile_virtual_topic(node, context)]
    return None


@hookimpl
def sluice_secure(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """The masking interceptor of a model that declares ``mask:``; its ``access:`` as Console
    self-service permissions."""
    found = [compiler.compile_masking(node, context), rbac.compile_access(node, context)]
    return [a for a in found if a is not None] or None


@hookimpl
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Gateway health and version, its interceptor plugins, Console reachable with the key."""
    from sluice_conduktor import planner

    return planner.probe(runtime, timeout)


@hookimpl
def sluice_plan(artifacts: Sequence[Artifact], context: RunContext) -> Sequence[Change] | None:
    """Interceptors against the Gateway's (by name and scope), access: against Console's
    self-service objects; the managed ones that left the project."""
    from sluice_conduktor import planner, rbac_planner

    return planner.plan(artifacts, context) + rbac_planner.plan(artifacts, context) or None


@hookimpl
def sluice_apply(change: Change, context: RunContext) -> ApplyResult | None:
    """Upsert (PUT) or delete one interceptor (with its scope) or self-service object."""
    from sluice_conduktor import planner, rbac_planner

    if change.kind in rbac_planner.CONSOLE_KINDS:
        return rbac_planner.apply(change, context)
    return planner.apply(change, context)


@hookimpl
def sluice_status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[StatusItem] | None:
    """Each interceptor (active, drifted, missing), each model's grants, and the consumer
    groups Console sees reading each selected topic, with their lag."""
    from sluice_conduktor import lineage, planner, rbac_planner

    items = planner.status(nodes, artifacts, context)
    items += rbac_planner.status(artifacts, context)
    return items + lineage.status(nodes, context) or None


@hookimpl
def sluice_lineage(manifest: Manifest, context: RunContext | None) -> Sequence[LineageEdge] | None:
    """Online only: the consumer groups and applications Console sees reading each topic."""
    if context is None:
        return None
    from sluice_conduktor import lineage

    return lineage.edges(manifest, context) or None
