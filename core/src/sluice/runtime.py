"""What plugins see while they plan, apply, report status or run tests against live systems."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, SecretStr

from sluice.capabilities import Capabilities
from sluice.manifest import Manifest
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project import Project


@dataclass(frozen=True)
class Watch:
    """``sluice test --watch``: how long continuous tests check, in process, the records that
    arrive in their topics.

    The watch starts when it is made; it is over after ``seconds``, or sooner once ``stop`` is
    set (Ctrl-C). A plugin reading records polls :meth:`left` and reports what it found so far
    when it reaches 0.
    """

    seconds: float
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event, compare=False)

    def left(self) -> float:
        """Seconds until the watch is over (0 once it is)."""
        if self.stop.is_set():
            return 0.0
        return max(0.0, self.started + self.seconds - time.monotonic())

    def elapsed(self) -> float:
        return min(self.seconds, time.monotonic() - self.started)


@dataclass
class RunContext:
    """One online run (plan, apply, status, test, destroy) of a project.

    ``selected`` holds the unique ids the user selected; ``project_artifacts(plugin)`` returns
    every artifact of the whole project, so a plugin can tell a resource whose node was merely
    not selected from one whose node left the project (only the latter is an orphan).
    """

    project: Project
    manifest: Manifest
    capabilities: Capabilities
    selected: frozenset[str]
    destroy: bool = False
    prune: bool = False
    allow_recreate: bool = False
    restart_failed: bool = False
    # set while ``sluice test --watch`` runs continuous tests in process
    watch: Watch | None = None
    echo: Callable[[str], None] = field(default=lambda _text: None)
    scratch: dict[str, Any] = field(default_factory=dict)  # per-plugin state for one run

    @property
    def runtime(self) -> Mapping[str, BaseModel]:
        """The validated ``runtime.<section>`` models, by section key."""
        return self.project.runtime

    def project_artifacts(self, plugin: str) -> list[Artifact]:
        return [a for a in self.manifest.all_artifacts() if a.plugin == plugin]

    @property
    def protected(self) -> bool:
        return self.project.environment.protected


def read_bootstrap(node: Node, runtime: Mapping[str, Any]) -> str | None:
    """The Kafka address a reader of ``node``'s topic connects to when a proxy serves that
    topic (a Conduktor Gateway virtual topic): the value of its kind's ``served_at`` setting.

    None for a topic on the brokers (read through ``runtime.kafka``) and when the setting is
    not configured (the core refuses to compile a reader of such a node then). Plugins that
    read topics (Flink jobs, connectors, sample tests) use it instead of importing the plugin
    that serves the topic.
    """
    if node.served_at is None:
        return None
    section, _, key = node.served_at.partition(".")
    value = getattr(runtime.get(section), key, None)
    return str(value) if value else None


# runtime.kafka's connection fields (sluice-kafka's model) and the librdkafka settings they
# become: sluice-kafka's clients, and plugins with a Kafka client of their own, use them
_KAFKA_CLIENT_SETTINGS = {
    "bootstrap_servers": "bootstrap.servers",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_username": "sasl.username",
    "sasl_password": "sasl.password",
    "ssl_ca_location": "ssl.ca.location",
    "ssl_certificate_location": "ssl.certificate.location",
    "ssl_key_location": "ssl.key.location",
    "ssl_key_password": "ssl.key.password",
    "client_id": "client.id",
}


def kafka_client_settings(section: Any) -> dict[str, str]:
    """librdkafka settings of the ``runtime.kafka`` section (read by attribute, secrets
    revealed: keep the result away from output and files)."""
    settings = {}
    for attribute, key in _KAFKA_CLIENT_SETTINGS.items():
        value = getattr(section, attribute, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None and value != "":
            settings[key] = str(value)
    return settings
