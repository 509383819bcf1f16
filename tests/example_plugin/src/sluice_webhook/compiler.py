"""Compiling a ``materialized: webhook`` model into the artifacts the plugin registers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluice.errors import ProjectError
from sluice.plugin.api import Artifact
from sluice_webhook import PLUGIN
from sluice_webhook.config import WebhookTarget

KIND = "webhook"
ACL_KIND = "webhook_acl"


def is_webhook(node: Any) -> bool:
    return node.resource_type == "model" and node.materialized == KIND


def compile_webhook(node: Any, context: Any) -> Artifact:
    """The webhook registration: where to send, what to read, and the record's columns."""
    target = node.spec.extensions.get("webhook")
    if not isinstance(target, WebhookTarget):
        raise ProjectError(
            f"model '{node.name}': materialized: webhook needs a webhook: block",
            location=context.location(node, "name"),
            hint="add webhook: {url: https://...}",
        )
    topics = []
    for upstream in context.upstream(node):
        if upstream.topic is None:
            raise ProjectError(
                f"model '{node.name}': its input '{upstream.name}' has no topic to read from",
                location=context.location(node, "from"),
                hint="name a source or a model materialized as a topic under from:",
            )
        topics.append(upstream.topic)
    spec = {
        "url": target.url,
        "headers": dict(sorted(target.headers.items())),
        "topics": topics,
        "format": node.format,
        "columns": [{"name": c.name, "type": c.type} for c in node.columns],
    }
    return _artifact(KIND, node.name, spec, f"{node.name}.json")


def compile_acl(node: Any) -> Artifact | None:
    """Who may read what the webhook forwards: the model's ``access.read`` principals."""
    readers = sorted(node.spec.access.read)
    if not readers:
        return None
    spec = {"webhook": node.name, "readers": readers}
    return _artifact(ACL_KIND, node.name, spec, f"{node.name}.acl.json")


def _artifact(kind: str, name: str, spec: Mapping[str, Any], file: str) -> Artifact:
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    return Artifact(PLUGIN, kind, name, spec, file=file, text=text)
