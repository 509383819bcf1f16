"""Carrying out one planned change on the brokers, then recording it in the state topic."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.errors import RemoteError
from sluice.plugin.api import ApplyResult, Change
from sluice_kafka.acls import Binding
from sluice_kafka.client import KafkaAdmin
from sluice_kafka.registry import RegistryClient
from sluice_kafka.schemas import schema_text
from sluice_kafka.state import StateStore


def apply_change(
    change: Change,
    admin: KafkaAdmin,
    state: StateStore,
    version: str,
    registry: RegistryClient | None = None,
) -> ApplyResult:
    """Make one change; a Kafka refusal raises :class:`RemoteError` (the engine reports it)."""
    started = time.monotonic()
    if change.kind == "topic":
        message = _apply_topic(change, admin)
    elif change.kind == "acls":
        message = _apply_acls(change, admin)
    elif change.kind == "schema" and registry is not None and change.action == "delete":
        message = _delete_subject(change.name, registry)
    elif change.kind == "schema" and registry is not None:
        message = _apply_schema(change, registry)
    else:
        return ApplyResult(change, "skipped", f"sluice-kafka does not manage {change.kind}")
    spec = change.payload.get("spec")
    if change.action == "delete" or spec is None:
        state.forget(change.kind, change.name)
    else:
        state.save(change.kind, change.name, spec, version)
    return ApplyResult(change, "success", message, time.monotonic() - started)


def apply_batch(
    changes: Sequence[Change], admin: KafkaAdmin, state: StateStore, version: str
) -> list[ApplyResult] | None:
    """Topic creates and ACL changes of one step in a few requests (their results in the
    order of ``changes``); None for a batch with anything else, which goes change by change."""
    creates = [c for c in changes if c.kind == "topic" and c.action == "create"]
    acls = [c for c in changes if c.kind == "acls"]
    if not changes or len(creates) + len(acls) != len(changes):
        return None
    done = {id(r.change): r for r in apply_creates(creates, admin, state, version)}
    done |= {id(r.change): r for r in apply_acl_changes(acls, admin, state, version)}
    return [done[id(c)] for c in changes]


def apply_creates(
    changes: Sequence[Change], admin: KafkaAdmin, state: StateStore, version: str
) -> list[ApplyResult]:
    """Create many topics with one request, one metadata wait and one state flush."""
    if not changes:
        return []
    started = time.monotonic()
    specs = {c.name: c.payload["spec"] for c in changes}
    outcome = admin.create_topics(
        {
            name: (spec.get("partitions"), spec.get("replication_factor"), spec.get("config") or {})
            for name, spec in specs.items()
        }
    )
    created = [name for name, error in outcome.items() if error is None]
    late = admin.wait_for_topics(
        {name: (specs[name].get("partitions"), specs[name].get("config") or {}) for name in created}
    )
    done = [name for name in created if name not in late]
    state.save_many([("topic", name, specs[name]) for name in done], version)
    seconds = (time.monotonic() - started) / len(changes)
    results = []
    for change in changes:
        error = outcome.get(change.name) or (
            f"topic '{change.name}' was created but the brokers did not show it in time"
            if change.name in late
            else None
        )
        if error:
            results.append(ApplyResult(change, "error", error, seconds))
        else:
            results.append(ApplyResult(change, "success", "created", seconds))
    return results


def _apply_topic(change: Change, admin: KafkaAdmin) -> str:
    payload = change.payload
    if change.action == "create":
        _create(admin, change.name, payload["spec"])
        return "created"
    if change.action == "delete":
        deleted = admin.delete_topic(change.name)
        admin.wait_until_gone(change.name)
        return "deleted" if deleted else "already gone"
    if change.action == "replace":
        admin.delete_topic(change.name)
        admin.wait_until_gone(change.name)
        _create(admin, change.name, payload["spec"])
        return "deleted and recreated"
    done = []
    partitions, to_set = payload.get("partitions"), payload.get("set") or {}
    if partitions:
        admin.add_partitions(change.name, partitions)
        done.append(f"partitions now {partitions}")
    if to_set or payload.get("reset"):
        admin.alter_topic_configs(change.name, to_set, payload.get("reset") or ())
        done.append("configs altered")
    if done:
        admin.wait_for_topic(change.name, partitions, to_set)
    return ", ".join(done) or "recorded"


def _create(admin: KafkaAdmin, name: str, spec: Mapping[str, Any]) -> None:
    config = spec.get("config") or {}
    admin.create_topic(name, spec.get("partitions"), spec.get("replication_factor"), config)
    admin.wait_for_topic(name, spec.get("partitions"), config)


def _apply_acls(change: Change, admin: KafkaAdmin) -> str:
    delete, create = _acl_payload(change)
    failures = _failures(admin.delete_bindings(delete), delete)
    failures += _failures(admin.create_bindings(create), create)
    if failures:
        raise RemoteError(
            f"acls {change.name}: {failures[0]}",
            hint="sluice's principal needs ALTER on the cluster to manage ACLs",
        )
    return _acl_message(create, delete)


def apply_acl_changes(
    changes: Sequence[Change], admin: KafkaAdmin, state: StateStore, version: str
) -> list[ApplyResult]:
    """Every binding of ``changes`` deleted in one request and created in another, then the
    records of the changes that succeeded written with one flush."""
    if not changes:
        return []
    started = time.monotonic()
    wanted = {id(c): _acl_payload(c) for c in changes}
    deleted = admin.delete_bindings(b for delete, _ in wanted.values() for b in delete)
    created = admin.create_bindings(b for _, create in wanted.values() for b in create)
    seconds = (time.monotonic() - started) / len(changes)
    results, saves, forgets = [], [], []
    for change in changes:
        delete, create = wanted[id(change)]
        failures = _failures(deleted, delete) + _failures(created, create)
        if failures:
            results.append(ApplyResult(change, "error", f"acls {change.name}: {failures[0]}"))
            continue
        spec = change.payload.get("spec")
        if change.action == "delete" or spec is None:
            forgets.append(("acls", change.name))
        else:
            saves.append(("acls", change.name, spec))
        results.append(ApplyResult(change, "success", _acl_message(create, delete), seconds))
    state.save_many(saves, version)
    state.forget_many(forgets)
    return results


def _acl_payload(change: Change) -> tuple[list[Binding], list[Binding]]:
    """(bindings to delete, bindings to create) of one change."""
    delete = [Binding.from_spec(b) for b in change.payload.get("delete", ())]
    create = [Binding.from_spec(b) for b in change.payload.get("create", ())]
    return delete, create


def _failures(outcome: Mapping[Binding, str | None], bindings: Sequence[Binding]) -> list[str]:
    return [f"{outcome[b]} ({b.label()})" for b in bindings if outcome.get(b)]


def _acl_message(create: Sequence[Binding], delete: Sequence[Binding]) -> str:
    parts = []
    if create:
        parts.append(f"{len(create)} binding(s) created")
    if delete:
        parts.append(f"{len(delete)} binding(s) deleted")
    return ", ".join(parts) or "recorded"


def _apply_schema(change: Change, registry: RegistryClient) -> str:
    """The level first (a relaxed level is what lets the new version in), then the version."""
    payload = change.payload
    spec = payload["spec"]
    done = []
    if payload.get("compatibility"):
        registry.set_compatibility(change.name, payload["compatibility"])
        done.append(f"compatibility {payload['compatibility']}")
    if payload.get("register"):
        schema_id = registry.register(change.name, schema_text(spec["schema"]), spec["schemaType"])
        done.insert(0, f"registered (schema id {schema_id})")
    return ", ".join(done) or "recorded"


def _delete_subject(subject: str, registry: RegistryClient) -> str:
    """Soft-delete the subject and clear its level, so a model that comes back starts from
    the registry's defaults; with ``permanent_delete``, delete it for good afterwards."""
    versions = registry.delete_subject(subject)
    if registry.permanent_delete:
        # None from the soft delete may mean "soft-deleted before": the permanent one decides
        gone = registry.delete_subject(subject, permanent=True)
        return "deleted permanently" if gone is not None else "already gone"
    registry.clear_compatibility(subject)
    if versions is None:
        return "already gone"
    return f"soft-deleted (version(s) {', '.join(map(str, versions))}; readable by id)"
