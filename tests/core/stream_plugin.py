"""A small plugin standing in for sluice-kafka and sluice-flink in the core's tests.

It owns ``runtime.stream`` (a strict pydantic model, so unknown keys are errors), provides the
capabilities ``topics`` and ``stream_jobs`` once that section is configured (and
``runtime.topics_only``, which provides ``topics`` alone), offers the kinds
``topic`` (needs topics; stream_jobs too when the SQL transforms data) and ``flink`` (needs
both), and compiles one topic artifact per node that has a topic. The artifact carries the
connection settings, password included, so tests can check that secrets are masked in
``target/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sluice.plugin import hookimpl
from sluice.plugin.api import Artifact, ConfigSection, Materialization

NAME = "stream"


class StreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: str
    password: SecretStr | None = None
    timeout_ms: int = Field(default=1000, ge=1)


class TopicsOnlyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: str


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    return [
        ConfigSection(
            "runtime", "stream", StreamConfig, ("topics", "stream_jobs"), "a test stream system"
        ),
        # a system with topics and no stream jobs, for stories about missing capabilities
        ConfigSection("runtime", "topics_only", TopicsOnlyConfig, ("topics",), "topics only"),
    ]


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    return [
        Materialization(
            "topic", ("topics",), "a topic", sql="optional", needs_with_sql=("stream_jobs",)
        ),
        Materialization("flink", ("topics", "stream_jobs"), "a stream job"),
    ]


@hookimpl
def sluice_compile(node: Any, context: Any) -> Sequence[Artifact] | None:
    if node.resource_type != "model" or not node.topic:
        return None
    config = context.runtime.get("stream") or context.runtime["topics_only"]
    password = getattr(config, "password", None)
    spec = {
        "topic": node.topic,
        "servers": config.servers,
        "password": password.get_secret_value() if password else None,
    }
    return [Artifact(NAME, "topic", node.topic, spec, file="topics.json")]


def manager() -> Any:
    """A plugin manager with the built-ins and this plugin only (no entry points)."""
    import sys

    from sluice.plugin.manager import PluginManager

    return PluginManager(load_entry_points=False, extra_plugins=[(NAME, sys.modules[__name__])])
