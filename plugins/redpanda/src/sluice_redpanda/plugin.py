"""The hook implementations of sluice-redpanda (thin: the work is in the modules they call).

Transforms live in ``compiler`` and ``planner``, Redpanda Connect sinks in ``streams`` and
``stream_plan``, SCRAM users in ``users``, topic-property checks in ``topics``. The online
modules (and httpx) are imported by the hooks that need them, so offline commands such as
``compile`` do not pay for loading them.
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
    Materialization,
    PlanWarning,
    ProbeResult,
    StatusItem,
)
from sluice.runtime import RunContext
from sluice_redpanda import compiler, streams, topics, users
from sluice_redpanda.config import (
    CAPABILITIES,
    RedpandaConfig,
    RedpandaConnectBlock,
    TransformBlock,
)


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    """``runtime.redpanda``, a model's ``transform:`` and a sink's ``redpanda_connect:``."""
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
        ConfigSection(
            "model",
            streams.BLOCK,
            RedpandaConnectBlock,
            (),
            "a sink's Redpanda Connect output (and pipeline)",
            keep_variables=True,
        ),
    ]


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    """``transform`` (a WebAssembly data transform) and ``sink`` (a Redpanda Connect stream)."""
    return [
        Materialization(
            compiler.TRANSFORM,
            ("transforms",),
            "a Redpanda data transform (WebAssembly) from the input's topic to the model's topic",
            sql="forbidden",
            output_topic=True,
        ),
        Materialization(
            streams.SINK,
            ("redpanda_connect",),
            "a Redpanda Connect stream writing the inputs' topics to its output",
            sql="forbidden",
            output_topic=False,
        ),
    ]


@hookimpl
def sluice_compile(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """A transform's deploy metadata, a sink's stream; topic properties checked on Redpanda."""
    config = compiler.config_of(context.runtime)
    if config is not None:
        # project-wide settings are checked once, with the first node compiled
        if next(iter(context.nodes), None) == node.unique_id:
            topics.check_defaults(context)
            users.check_passwords(context, config)
        topics.check_node(node, context)
    found = [compiler.compile_node(node, context), streams.compile_stream(node, context, config)]
    return [artifact for artifact in found if artifact is not None] or None


@hookimpl
def sluice_secure(node: Node, context: CompileContext) -> Sequence[Artifact] | None:
    """The SCRAM users of a node's ``access:`` (with ``create_users: true``)."""
    config = compiler.config_of(context.runtime)
    return (users.compile_users(node, context, config) or None) if config else None


@hookimpl
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Admin API ready, brokers and versions, transforms enabled, Redpanda Connect ready."""
    from sluice_redpanda import planner

    return planner.probe(runtime, timeout)


@hookimpl
def sluice_plan(
    artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[Change | PlanWarning] | None:
    """Transforms, streams and users against the live cluster; topic configs Redpanda
    ignores are warned of."""
    from sluice_redpanda import planner, stream_plan

    items: list[Change | PlanWarning] = list(planner.plan(artifacts, context))
    config = compiler.config_of(context.runtime)
    if config is not None:
        items += stream_plan.plan(artifacts, context)
        items += users.plan(artifacts, context, config)
        if not context.destroy:
            items += topics.plan_warnings(context)
    return items or None


@hookimpl
def sluice_apply(change: Change, context: RunContext) -> ApplyResult | None:
    """Deploy or delete a transform, put or delete a stream, create or delete a user."""
    from sluice_redpanda import planner, stream_plan

    if change.plugin != compiler.PLUGIN:
        return None
    if change.kind == streams.KIND:
        return stream_plan.apply(change, context)
    if change.kind == users.KIND:
        return users.apply(change, context, planner.require_config(context))
    return planner.apply(change, context)


@hookimpl
def sluice_status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> Sequence[StatusItem] | None:
    """Each transform and stream (running, drifted, missing ...) and each user."""
    from sluice_redpanda import planner, stream_plan

    items = planner.status(nodes, artifacts, context) + stream_plan.status(
        nodes, artifacts, context
    )
    config = compiler.config_of(context.runtime)
    if config is not None:
        items += users.status(artifacts, context, config)
    return items or None
