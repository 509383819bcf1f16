"""SASL/SCRAM users for the principals of ``access:``, through the Admin API.

With ``runtime.redpanda.create_users: true``, each ``User:<name>`` that a model's or a
source's ``access:`` names must have a password in ``runtime.redpanda.users`` (written as
``${VAR}``: a literal password is a compile error), and plan creates the users Redpanda lacks.
A user that exists is left as it is: the Admin API never tells a password, so sluice cannot
compare one.

Ownership: ``GET /v1/security/users`` lists names only and a user has no field for a mark, so
sluice records the users it created in ``.sluice/redpanda/users.json`` in the project (per
Admin API URL). Only users recorded there are deleted: with ``--prune`` when no ``access:``
names them any more, and by ``destroy``. A user somebody else made is never touched.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.compiler import CompileContext
from sluice.errors import ProjectError, ProjectErrors, RemoteError, SluiceError
from sluice.nodes import Node
from sluice.plugin.api import ApplyResult, Artifact, Change, PlanWarning, StatusItem
from sluice.runtime import RunContext
from sluice_redpanda.config import RedpandaConfig
from sluice_redpanda.locate import project_setting
from sluice_redpanda.variables import has_reference

if TYPE_CHECKING:
    from sluice_redpanda.client import AdminClient

PLUGIN = "redpanda"
KIND = "user"
STORAGE = 0  # Change.stage: with topics and ACLs, before jobs and sinks
LEDGER = Path(".sluice") / "redpanda" / "users.json"
_LEDGER_LOCK = threading.Lock()  # apply creates users of independent nodes in parallel


# -- compile ----------------------------------------------------------------------------------


def principals(node: Node) -> Iterator[tuple[str, tuple[str, int]]]:
    """Each ``User:<name>`` of a node's ``access:``, with where it is (side, index)."""
    access = getattr(node.spec, "access", None)
    for side in ("read", "write"):
        for index, principal in enumerate(getattr(access, side, ()) or ()):
            kind, _, name = str(principal).partition(":")
            if kind == "User" and name and name != "*":
                yield name, (side, index)


def compile_users(node: Node, context: CompileContext, config: RedpandaConfig) -> list[Artifact]:
    """A ``user`` artifact for each user of ``node``'s access that no earlier node names
    (so each user is planned once, with the first node that needs it)."""
    if not config.create_users or node.resource_type not in ("model", "source"):
        return []
    earlier = _named_before(node, context)
    artifacts: list[Artifact] = []
    errors: list[SluiceError] = []
    for name, (side, index) in principals(node):
        if name not in config.users:
            errors.append(
                ProjectError(
                    f"{node.resource_type} '{node.name}': access.{side} names User:{name}, "
                    "and create_users is on, but runtime.redpanda.users has no password for it",
                    # a lone principal written as a string is found at its parent key
                    location=context.location(node, "access", side, index),
                    hint=f"add runtime.redpanda.users.{name}: ${{{_variable(name)}}}",
                )
            )
        elif name not in earlier and name not in {a.name for a in artifacts}:
            spec = {"name": name, "mechanism": config.scram_mechanism}
            artifacts.append(Artifact(PLUGIN, KIND, name, spec, file="users.json"))
    if errors:
        raise errors[0] if len(errors) == 1 else ProjectErrors(errors)
    return artifacts


def _named_before(node: Node, context: CompileContext) -> set[str]:
    names: set[str] = set()
    for uid, other in context.nodes.items():  # in graph order
        if uid == node.unique_id:
            break
        names.update(name for name, _ in principals(other))
    return names


def _variable(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper() + "_PASSWORD"


def check_passwords(context: CompileContext, config: RedpandaConfig) -> None:
    """Every password of ``runtime.redpanda.users`` is a ``${VAR}`` as written (checked once
    per compile: the loader has resolved it already, so the YAML is read again)."""
    errors: list[SluiceError] = []
    for name in config.users:
        written = project_setting(context.project, ("runtime", "redpanda", "users", name))
        if written is None:
            continue
        text, location = written
        if not (isinstance(text, str) and has_reference(text)):
            errors.append(
                ProjectError(
                    f"runtime.redpanda.users.{name} is a literal password; passwords come "
                    "from environment variables only",
                    location=location,
                    hint=f"write it as ${{{_variable(name)}}} and set that variable "
                    "(or put it in .env)",
                )
            )
    if errors:
        raise errors[0] if len(errors) == 1 else ProjectErrors(errors)


# -- the ledger of users sluice created -------------------------------------------------------


def _ledger_path(context: RunContext) -> Path:
    return context.project.root / LEDGER


def created_users(context: RunContext, admin_url: str) -> set[str]:
    """The users sluice created on the cluster of ``admin_url``."""
    try:
        data = json.loads(_ledger_path(context).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    found = data.get(admin_url) if isinstance(data, dict) else None
    return {str(name) for name in found} if isinstance(found, list) else set()


def _record(context: RunContext, admin_url: str, name: str, created: bool) -> None:
    path = _ledger_path(context)
    with _LEDGER_LOCK:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        names = set(data.get(admin_url) or ())
        names = names | {name} if created else names - {name}
        data[admin_url] = sorted(names)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# -- plan -------------------------------------------------------------------------------------


def plan(
    artifacts: Sequence[Artifact], context: RunContext, config: RedpandaConfig
) -> list[Change | PlanWarning]:
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    created = created_users(context, config.admin_url)
    if not own and not created and not config.users:
        return []
    with _admin(config) as admin:
        live = set(admin.users())
    owners = context.manifest.artifact_owners
    if context.destroy:
        return [
            _delete(a.name, owners.get(a.key), "destroy") for a in own if a.name in (created & live)
        ]
    items: list[Change | PlanWarning] = [
        Change(
            PLUGIN,
            "create",
            KIND,
            a.name,
            owners.get(a.key),
            {"mechanism": (None, a.spec["mechanism"])},
            payload={"name": a.name, "mechanism": a.spec["mechanism"]},
            stage=STORAGE,
        )
        for a in own
        if a.name not in live
    ]
    wanted = {a.name for a in context.project_artifacts(PLUGIN) if a.kind == KIND}
    for name in sorted((created & live) - wanted):
        items.append(_delete(name, None, "no access: names it any more"))
    for name in sorted(set(config.users) - wanted):
        items.append(
            PlanWarning(
                PLUGIN,
                f"runtime.redpanda.users.{name}: no access: block names User:{name}, so sluice "
                "does not create it",
            )
        )
    return items


def _delete(name: str, node: str | None, why: str) -> Change:
    return Change(
        PLUGIN,
        "delete",
        KIND,
        name,
        node,
        destructive=True,
        reason=why,
        payload={"name": name},
        stage=STORAGE,
    )


# -- apply ------------------------------------------------------------------------------------


def apply(change: Change, context: RunContext, config: RedpandaConfig) -> ApplyResult:
    name = str(change.payload["name"])
    with _admin(config) as admin:
        if change.action == "create":
            password = config.users.get(name)
            if password is None:
                raise RemoteError(
                    f"user {name}: runtime.redpanda.users has no password for it any more",
                    hint="run sluice plan again",
                )
            admin.create_user(name, password.get_secret_value(), change.payload["mechanism"])
            _record(context, config.admin_url, name, created=True)
            return ApplyResult(change, "success", f"created ({change.payload['mechanism']})")
        if change.action == "delete":
            gone = admin.delete_user(name)
            _record(context, config.admin_url, name, created=False)
            return ApplyResult(change, "success", "deleted" if gone else "already gone")
    return ApplyResult(change, "skipped", f"nothing to do for {change.action}")


# -- status -----------------------------------------------------------------------------------


def status(
    artifacts: Sequence[Artifact], context: RunContext, config: RedpandaConfig
) -> list[StatusItem]:
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if not own:
        return []
    with _admin(config) as admin:
        live = set(admin.users())
    created = created_users(context, config.admin_url)
    owners = context.manifest.artifact_owners
    return [
        StatusItem(
            owners.get(a.key, ""),
            PLUGIN,
            f"user:{a.name}",
            "EXISTS" if a.name in live else "MISSING",
            {"created_by_sluice": a.name in created},
        )
        for a in own
    ]


def _admin(config: RedpandaConfig) -> AdminClient:
    # imported here: compile checks users too, and needs neither the client nor httpx
    from sluice_redpanda.client import AdminClient

    return AdminClient.from_config(config)
