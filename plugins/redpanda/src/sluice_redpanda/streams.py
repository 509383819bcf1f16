"""Compiling a ``sink`` model into a Redpanda Connect stream (streams mode).

A sink runs on Redpanda Connect when it has a ``redpanda_connect:`` block, or when Redpanda
Connect is the only sink runtime the project has (the core picks the plugin; see
``sluice.materialization.choose_provider``). Its stream:

- is named ``sluice.<project>.<model>`` and reads with the consumer group of the same name:
  together they mark it as the project's (a stream config has no free-form field for a mark);
- reads the model's input topics with a ``redpanda`` input from the cluster's seed brokers
  (``runtime.redpanda.seed_brokers``, else ``runtime.kafka.bootstrap_servers``), plus the
  block's ``input:`` settings;
- runs the block's ``pipeline`` and ``buffer`` and writes to its ``output``;
- carries ``input.label: sluice_<hash>``, a hash of everything above, so plan notices a key
  the project removed, which a look at the declared keys alone cannot see.

``${VAR}`` in the block stays as written in the artifact (and in target/); it is resolved when
the stream is planned and put (``sluice_redpanda.variables``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sluice.compiler import CompileContext
from sluice.errors import ProjectError, ProjectErrors, SluiceError
from sluice.naming import job_name
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice_redpanda.config import RedpandaConfig, RedpandaConnectBlock
from sluice_redpanda.variables import SECRET_KEY, has_reference, leaves
from sluice_redpanda.yamltext import to_yaml

PLUGIN = "redpanda"
KIND = "stream"
BLOCK = "redpanda_connect"
SINK = "sink"
INPUT = "redpanda"  # the Redpanda Connect input component (kafka_franz is deprecated)
RESERVED_INPUT = ("seed_brokers", "topics", "regexp_topics", "consumer_group")
LABEL_PREFIX = "sluice_"


def stream_id(project: str, model: str) -> str:
    return job_name(project, model)


def seed_brokers(runtime: Mapping[str, Any], config: RedpandaConfig) -> list[str]:
    """``runtime.redpanda.seed_brokers``, else the brokers of ``runtime.kafka``."""
    if config.seed_brokers:
        return list(config.seed_brokers)
    bootstrap = str(getattr(runtime.get("kafka"), "bootstrap_servers", "") or "")
    return [part.strip() for part in bootstrap.split(",") if part.strip()]


def label_of(config: Mapping[str, Any]) -> str:
    """``sluice_`` and the first 16 hex digits of the SHA-256 of the config without a label."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return LABEL_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]


def compile_stream(
    node: Node, context: CompileContext, config: RedpandaConfig | None
) -> Artifact | None:
    """The stream of a sink that runs on Redpanda Connect; an error for a stray block."""
    if node.resource_type != "model":
        return None
    block: RedpandaConnectBlock | None = node.spec.extensions.get(BLOCK)
    if node.materialized != SINK or node.plugin != PLUGIN:
        if block is not None:
            raise ProjectError(
                f"model '{node.name}' has a {BLOCK}: block but is materialized as "
                f"{node.materialized}",
                location=context.project.origin(node.unique_id).locate(BLOCK, key=True),
                hint=f"remove {BLOCK}:, or make the model a sink (from: and no SQL)",
            )
        return None
    if block is None:
        raise ProjectError(
            f"sink '{node.name}' runs on Redpanda Connect but has no {BLOCK}: block",
            location=context.location(node, "name"),
            hint=f"add {BLOCK}: {{ output: {{ http_client: {{ url: ... }} }} }}, or a "
            "connector: block and runtime.connect for Kafka Connect",
        )
    brokers = _brokers(node, context, config)
    _check_block(node, block, context)
    project = context.project.info.name
    sid = stream_id(project, node.name)
    redpanda_input = {
        **block.input,
        "seed_brokers": brokers,
        "topics": _input_topics(node, context),
        "consumer_group": sid,
    }
    stream: dict[str, Any] = {"input": {INPUT: redpanda_input}}
    if block.buffer is not None:
        stream["buffer"] = dict(block.buffer)
    if block.pipeline is not None:
        stream["pipeline"] = dict(block.pipeline)
    stream["output"] = dict(block.output)
    stream["input"] = {"label": label_of(stream), INPUT: redpanda_input}
    text, _ = to_yaml(stream)
    spec = {"id": sid, "config": stream}
    return Artifact(PLUGIN, KIND, sid, spec, file=f"streams/{node.name}.yaml", text=text)


def _brokers(node: Node, context: CompileContext, config: RedpandaConfig | None) -> list[str]:
    if config is None or config.connect_url is None:
        raise ProjectError(
            f"sink '{node.name}' runs on Redpanda Connect, but runtime.redpanda.connect_url "
            "is not configured",
            location=context.location(node, "name"),
            hint="set runtime.redpanda.connect_url to the streams API of Redpanda Connect "
            "(rpk connect streams; port 4195)",
        )
    brokers = seed_brokers(context.runtime, config)
    if not brokers:
        raise ProjectError(
            f"sink '{node.name}': Redpanda Connect needs the cluster's Kafka address",
            location=context.location(node, "name"),
            hint="set runtime.redpanda.seed_brokers (or runtime.kafka.bootstrap_servers)",
        )
    return brokers


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


def _check_block(node: Node, block: RedpandaConnectBlock, context: CompileContext) -> None:
    """Keys sluice sets itself, and secrets written as literals (they would reach target/)."""
    errors: list[SluiceError] = []
    for key in block.input:
        if key in RESERVED_INPUT:
            errors.append(
                ProjectError(
                    f"sink '{node.name}': {BLOCK}.input may not set '{key}'",
                    location=context.location(node, BLOCK, "input", key),
                    hint="sluice sets it from from:, the seed brokers and the model's name",
                )
            )
    sections = {"output": block.output, "pipeline": block.pipeline, "buffer": block.buffer}
    for section, value in {**sections, "input": block.input}.items():
        for path, leaf in leaves(value or {}, (section,)):
            key = next((p for p in reversed(path) if isinstance(p, str)), "")
            literal = isinstance(leaf, str) and bool(leaf) and not has_reference(leaf)
            if literal and SECRET_KEY.search(key):
                errors.append(_literal_secret(node, path, context))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)


def _literal_secret(
    node: Node, path: tuple[str | int, ...], context: CompileContext
) -> SluiceError:
    key = ".".join(str(p) for p in path)
    return ProjectError(
        f"sink '{node.name}': {BLOCK}.{key} holds a literal secret, which would be written "
        "to target/",
        location=context.location(node, BLOCK, *path),
        hint="reference an environment variable instead: ${MY_SECRET}",
    )
