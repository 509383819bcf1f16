"""What a model's ``access:`` becomes in Conduktor Console's self-service (Console API v1).

The project is one ``Application`` (``sluice-<project>``) with one ``ApplicationInstance`` per
Kafka cluster (``sluice-<project>-<cluster>``) that owns the topics of the models declaring
``access:``. Each principal ``User:<name>`` is the service account of some application
instance on that cluster; it gets an ``ApplicationInstancePermission`` (``READ``, or ``WRITE``,
which Console extends to reading) on the model's topic, granted to that instance.

The compiled ``access`` artifact keeps the intent (topic, principals, permissions): the
cluster, the owner group and which instance a service account belongs to are only known from
Console, so the planner builds the bodies. Console's self-service objects carry no labels: the
Application's ``description`` says sluice manages it, and everything under it is sluice's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sluice.compiler import CompileContext
from sluice.errors import ProjectError
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project.schema import Access, Model
from sluice_conduktor.compiler import COMMENT_PREFIX, PLUGIN, config_of

KIND = "access"
USER = "User:"
_CONSOLE_NAME = re.compile(r"^[0-9a-z_\-.]+$")  # the pattern of every self-service name


# -- compile ----------------------------------------------------------------------------------


def compile_access(node: Node, context: CompileContext) -> Artifact | None:
    """The ``access`` artifact of a model that declares ``access:``, when Console grants it."""
    model = node.spec
    if node.resource_type != "model" or not isinstance(model, Model) or not node.topic:
        return None
    grants = permissions_of(model.access)
    if not grants:
        return None
    config = config_of(context.runtime)
    # Kafka ACLs on the brokers cover a real topic; a virtual one exists only at the Gateway
    only_console = not node.real_topic
    if config is None or config.console_api is None:
        if only_console:
            raise ProjectError(
                f"model '{node.name}': access: on a virtual topic is granted through Conduktor "
                "Console's self-service, and runtime.conduktor.console_url is not configured",
                location=context.location(node, "access"),
                hint="set runtime.conduktor.console_url and api_key, or use materialized: topic "
                "(Kafka ACLs)",
            )
        return None
    others = sorted(p for p in grants if not p.startswith(USER))
    if others and only_console:
        raise ProjectError(
            f"model '{node.name}': access: names '{others[0]}', but Console grants access to "
            "application instances through their service account, written User:<name>",
            location=context.location(node, "access"),
            hint="name the service accounts as User:<name>",
        )
    users = {p: grants[p] for p in sorted(grants) if p.startswith(USER)}
    if not users:
        return None
    spec = {
        "topic": node.topic,
        "grants": [{"principal": p, "permission": perm} for p, perm in users.items()],
        # no Kafka ACL stands in when Console cannot grant it: then plan refuses
        "required": only_console,
    }
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
    return Artifact(PLUGIN, KIND, node.topic, spec, file=f"{node.name}.access.json", text=text)


def permissions_of(access: Access) -> dict[str, str]:
    """principal -> ``READ`` or ``WRITE`` (Console's WRITE lets the grantee read too)."""
    found = dict.fromkeys(access.read, "READ")
    found |= dict.fromkeys(access.write, "WRITE")
    return found


# -- names and bodies -------------------------------------------------------------------------


def console_name(text: str) -> str:
    """``text`` as a self-service name (lower case, ``[0-9a-z_-.]``); a changed name gets a
    short hash of the original, so two topics never share one."""
    if _CONSOLE_NAME.match(text):
        return text
    cleaned = re.sub(r"[^0-9a-z_\-.]", "-", text.lower())
    return f"{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def application_name(project: str) -> str:
    return console_name(f"sluice-{project}")


def instance_name(project: str, cluster: str) -> str:
    return console_name(f"sluice-{project}-{cluster}")


def permission_name(instance: str, topic: str, grantee: str) -> str:
    return f"{instance}.{console_name(topic)}.{grantee}"


def ownership(project: str) -> str:
    """The description that marks an Application as sluice's."""
    return f"{COMMENT_PREFIX} (project {project}): the access: of its models"


def is_managed(application: Mapping[str, Any], project: str) -> bool:
    description = str((application.get("spec") or {}).get("description") or "")
    return description.startswith(f"{COMMENT_PREFIX} (project {project})")


def application_body(project: str, owner: str) -> dict[str, Any]:
    """The body of ``PUT /public/self-serve/v1/application`` (``ApplicationResource``)."""
    return {
        "apiVersion": "v1",
        "kind": "Application",
        "metadata": {"name": application_name(project)},
        "spec": {
            "title": f"sluice project {project}",
            "owner": owner,
            "description": ownership(project),
        },
    }


def instance_body(project: str, cluster: str, topics: Iterable[str]) -> dict[str, Any]:
    """The instance on ``cluster`` that owns ``topics`` (``ApplicationInstanceResource``)."""
    return {
        "apiVersion": "v1",
        "kind": "ApplicationInstance",
        "metadata": {
            "name": instance_name(project, cluster),
            "application": application_name(project),
        },
        "spec": {
            "cluster": cluster,
            "resources": [
                {"type": "TOPIC", "name": topic, "patternType": "LITERAL"}
                for topic in sorted(set(topics))
            ],
        },
    }


def permission_body(
    project: str, cluster: str, topic: str, permission: str, grantee: str
) -> dict[str, Any]:
    """``permission`` on ``topic`` granted to the instance ``grantee``
    (``ApplicationInstancePermissionResource``)."""
    instance = instance_name(project, cluster)
    return {
        "apiVersion": "v1",
        "kind": "ApplicationInstancePermission",
        "metadata": {
            "application": application_name(project),
            "appInstance": instance,
            "name": permission_name(instance, topic, grantee),
        },
        "spec": {
            "resource": {"type": "TOPIC", "name": topic, "patternType": "LITERAL"},
            "permission": permission,
            "grantedTo": grantee,
        },
    }
