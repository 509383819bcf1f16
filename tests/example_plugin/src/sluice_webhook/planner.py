"""Diffing the compiled artifacts with the registry, and carrying out one change."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.plugin.api import ApplyResult, Artifact, Change, PlanWarning
from sluice_webhook import PLUGIN
from sluice_webhook.registry import Record, Registry


def plan_registry_changes(
    artifacts: Sequence[Artifact],
    registry: Registry,
    *,
    destroy: bool,
    project: Sequence[Artifact] | None = None,
) -> list[Change]:
    """One change per resource whose file differs from its artifact.

    Normally: create what is missing, update what differs, delete what this plugin registered
    and the project no longer compiles (``project`` holds every artifact of the project, so a
    resource of a node that was merely not selected is left alone). With ``destroy``: delete
    the given resources.
    """
    live = registry.records()
    desired = {(a.kind, a.name): a for a in artifacts}
    if destroy:
        return [_delete(r, "destroy", r.node) for key, r in live.items() if key in desired]
    known = {(a.kind, a.name) for a in (artifacts if project is None else project)}
    changes = []
    for key, artifact in desired.items():
        record = live.get(key)
        if record is None:
            diff = {field: (None, value) for field, value in artifact.spec.items()}
            changes.append(_change("create", artifact, diff))
            continue
        diff = _diff(record.spec, artifact.spec)
        if diff:
            changes.append(_change("update", artifact, diff))
    orphans = [r for key, r in live.items() if key not in known]
    changes += [_delete(r, "no longer in the project", None) for r in orphans]
    return changes


def plain_http_warnings(artifacts: Sequence[Artifact]) -> list[PlanWarning]:
    """A warning for each webhook that would post records unencrypted (plan shows it; it is
    not a change, so ``--detailed-exitcode`` ignores it)."""
    return [
        PlanWarning(
            PLUGIN,
            f"webhook {a.name} posts records unencrypted to {a.spec['url']}; prefer https://",
            node=f"model.{a.name}",
        )
        for a in artifacts
        if a.kind == "webhook" and str(a.spec.get("url", "")).startswith("http://")
    ]


def apply_registry_change(change: Change, registry: Registry) -> ApplyResult:
    """Write or remove the change's file; a failure is reported, never raised."""
    started = time.monotonic()
    try:
        if change.action in ("create", "update", "replace"):
            if not registry.is_writable():
                raise OSError(f"registry directory {registry.directory} is missing or read-only")
            record = Record(change.kind, change.name, change.node, change.payload["spec"])
            message = f"wrote {registry.write(record)}"
        elif change.action == "delete":
            removed = registry.delete(change.kind, change.name)
            message = "removed" if removed else "already gone"
        else:
            return ApplyResult(change, "skipped", "nothing to do")
    except OSError as exc:
        return ApplyResult(change, "error", str(exc), time.monotonic() - started)
    return ApplyResult(change, "success", message, time.monotonic() - started)


def _diff(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    fields = sorted({*live, *desired})
    return {f: (live.get(f), desired.get(f)) for f in fields if live.get(f) != desired.get(f)}


def _change(action: Any, artifact: Artifact, diff: Mapping[str, tuple[Any, Any]]) -> Change:
    return Change(
        plugin=PLUGIN,
        action=action,
        kind=artifact.kind,
        name=artifact.name,
        node=f"model.{artifact.name}",  # artifacts are named after their model
        diff=diff,
        payload={"spec": dict(artifact.spec)},
    )


def _delete(record: Record, reason: str, node: str | None) -> Change:
    return Change(
        plugin=PLUGIN,
        action="delete",
        kind=record.kind,
        name=record.name,
        node=node,
        diff={f: (v, None) for f, v in record.spec.items()},
        destructive=True,
        reason=reason,
    )
