"""Diffing what the project declares with what the brokers hold: pure functions over values.

Only what the project declares is compared: an undeclared setting (None in the topic spec, a
config key nobody wrote) is the broker's business, so broker defaults never show up as a
diff. A config key that sluice set before (it is in the state record) and the project no
longer declares is returned to the broker's default. Changes Kafka cannot make in place are
plan errors that say what to do, or ``replace`` changes with ``--allow-recreate``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluice.errors import Location, ProjectErrors, SluiceError
from sluice.plugin.api import Artifact, Change
from sluice_kafka.acls import Binding
from sluice_kafka.client import LiveTopic
from sluice_kafka.schema_planner import Checker, LiveSubject, plan_schema, source_mismatches
from sluice_kafka.state import Record, spec_hash

PLUGIN = "kafka"
STORAGE = 0  # Change.stage of topics and ACLs: before jobs and connectors

# Config values that are lists whose order means nothing.
_LIST_KEYS = frozenset({"cleanup.policy"})


@dataclass(frozen=True)
class Owner:
    """The node an artifact belongs to, for changes and for errors that point at its file."""

    uid: str
    name: str
    file: str | None = None
    line: int | None = None

    @property
    def location(self) -> Location | None:
        return Location(self.file, self.line) if self.file else None


@dataclass
class PlanInput:
    """Everything the planner needs, read from the project, the brokers and the state topic."""

    artifacts: Sequence[Artifact]  # the selected ones
    project_artifacts: Sequence[Artifact]
    owners: Mapping[str, Owner]  # artifact key -> its node
    live: Mapping[str, LiveTopic]
    records: Mapping[tuple[str, str], Record]
    bindings: set[Binding] = field(default_factory=set)  # every ACL binding on the cluster
    nodes: Mapping[str, Owner] = field(default_factory=dict)  # unique id -> node, all of them
    selected: Collection[str] | None = None  # unique ids (None: the owners of ``artifacts``)
    acls_enabled: bool = True
    allow_recreate: bool = False
    destroy: bool = False
    # registry subjects of the selected schema artifacts (and of recorded subjects that left
    # the project), and how to ask for a verdict; check is None without a registry
    subjects: Mapping[str, LiveSubject] = field(default_factory=dict)
    check: Checker | None = None
    warnings: list[str] = field(default_factory=list)  # filled by plan_changes


def plan_changes(given: PlanInput) -> list[Change]:
    """Every change the project needs; every impossible change at once as one error."""
    if given.destroy:
        return plan_destroy(given)
    errors: list[SluiceError] = []
    changes: list[Change] = []
    for artifact in given.artifacts:
        owner = given.owners.get(artifact.key)
        try:
            if artifact.kind == "topic":
                record = given.records.get(("topic", artifact.name))
                live = given.live.get(artifact.name)
                change = plan_topic(artifact, live, record, owner, given.allow_recreate)
                changes += [change] if change else []
            elif artifact.kind == "source_topic":
                check_source_topic(artifact, artifact.name in given.live, owner)
            elif artifact.kind == "schema" and given.check is not None:
                record = given.records.get(("schema", artifact.name))
                subject = given.subjects.get(artifact.name, LiveSubject(None, None))
                node, name = (owner.uid, owner.name) if owner else (None, None)
                where = owner.location if owner else None
                change = plan_schema(artifact, subject, record, given.check, node, name, where)
                changes += [change] if change else []
            elif artifact.kind == "source_schema" and artifact.name in given.subjects:
                label = f"source '{owner.name}': " if owner else ""
                latest = given.subjects[artifact.name].latest
                given.warnings += [label + m for m in source_mismatches(artifact, latest)]
        except SluiceError as exc:
            errors.append(exc)
    try:
        changes += plan_acls(given)
    except SluiceError as exc:
        errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else ProjectErrors(errors)
    return changes + plan_orphan_topics(given) + plan_orphan_subjects(given)


# -- topics -----------------------------------------------------------------------------------


def plan_topic(
    artifact: Artifact,
    live: LiveTopic | None,
    record: Record | None,
    owner: Owner | None,
    allow_recreate: bool = False,
) -> Change | None:
    """Create, update (per-field diff), replace, or nothing for one topic."""
    spec = artifact.spec
    node = owner.uid if owner else None
    if live is None:
        return Change(
            PLUGIN,
            "create",
            "topic",
            artifact.name,
            node,
            diff=_creation_diff(spec),
            payload={"spec": dict(spec)},
            stage=STORAGE,
        )
    impossible = _impossible_fields(spec, live)
    config_set, config_reset, config_diff = _config_diff(spec, live, record, owner, artifact.name)
    if impossible:
        if not allow_recreate:
            field_name, (was, wanted) = next(iter(impossible.items()))
            raise _cannot_change(artifact.name, field_name, was, wanted, owner)
        diff = {**impossible, **config_diff, **_partition_diff(spec, live)}
        return Change(
            PLUGIN,
            "replace",
            "topic",
            artifact.name,
            node,
            diff=diff,
            destructive=True,
            reason="Kafka cannot change this in place: the topic is deleted and recreated "
            "(its data is lost)",
            payload={"spec": dict(spec)},
            stage=STORAGE,
        )
    partitions = _partition_diff(spec, live)
    diff = {**partitions, **config_diff}
    reason, destructive = None, False
    if _compaction_dropped(spec, live):
        reason = "cleanup.policy drops compaction: records older than retention.ms go"
        destructive = True
    if not diff:
        if record is not None and record.spec_hash == spec_hash(spec):
            return None
        reason = (
            "exists but sluice has no record of it: apply records it as managed"
            if record is None
            else "matches the brokers; apply updates sluice's record of it"
        )
    return Change(
        PLUGIN,
        "update",
        "topic",
        artifact.name,
        node,
        diff=diff,
        destructive=destructive,
        reason=reason,
        payload={
            "spec": dict(spec),
            "partitions": spec.get("partitions") if partitions else None,
            "set": config_set,
            "reset": config_reset,
        },
        stage=STORAGE,
    )


def _creation_diff(spec: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    diff: dict[str, tuple[Any, Any]] = {}
    for key in ("partitions", "replication_factor"):
        if spec.get(key) is not None:
            diff[key] = (None, spec[key])
    for key, value in sorted((spec.get("config") or {}).items()):
        diff[f"config.{key}"] = (None, value)
    return diff


def _partition_diff(spec: Mapping[str, Any], live: LiveTopic) -> dict[str, tuple[Any, Any]]:
    wanted = spec.get("partitions")
    if wanted is not None and wanted > live.partitions:
        return {"partitions": (live.partitions, wanted)}
    return {}


def _impossible_fields(spec: Mapping[str, Any], live: LiveTopic) -> dict[str, tuple[Any, Any]]:
    """Fields Kafka cannot change on an existing topic, as field -> (live, desired)."""
    found: dict[str, tuple[Any, Any]] = {}
    wanted = spec.get("partitions")
    if wanted is not None and wanted < live.partitions:
        found["partitions"] = (live.partitions, wanted)
    replication = spec.get("replication_factor")
    if replication is not None and replication != live.replication_factor:
        found["replication_factor"] = (live.replication_factor, replication)
    policy = (spec.get("config") or {}).get("cleanup.policy")
    if policy is not None and not _same(
        "cleanup.policy", live.config.get("cleanup.policy"), policy
    ):
        tiered = "true" in (
            (spec.get("config") or {}).get("remote.storage.enable"),
            live.config.get("remote.storage.enable"),
        )
        if tiered and "compact" in policy:
            found["config.cleanup.policy"] = (live.config.get("cleanup.policy"), policy)
    return found


def _cannot_change(
    topic: str, field_name: str, was: Any, wanted: Any, owner: Owner | None
) -> SluiceError:
    model = f" (model '{owner.name}')" if owner else ""
    recreate = "pass --allow-recreate to delete and recreate it (data is lost)"
    if field_name == "partitions":
        message = f"topic '{topic}'{model}: partitions cannot decrease from {was} to {wanted}"
        hint = f"create a new topic (rename the model's topic) or {recreate}"
    elif field_name == "replication_factor":
        message = (
            f"topic '{topic}'{model}: replication_factor cannot change from {was} to {wanted} "
            "in place"
        )
        hint = (
            "reassign the partitions with kafka-reassign-partitions.sh and declare the new "
            f"factor afterwards, or {recreate}"
        )
    else:
        message = (
            f"topic '{topic}'{model}: cleanup.policy cannot change from {was} to {wanted} on a "
            "topic with tiered storage (remote.storage.enable=true)"
        )
        hint = f"create a new topic (rename the model's topic) or {recreate}"
    return SluiceError(message, location=owner.location if owner else None, hint=hint)


def _config_diff(
    spec: Mapping[str, Any],
    live: LiveTopic,
    record: Record | None,
    owner: Owner | None,
    topic: str,
) -> tuple[dict[str, str], list[str], dict[str, tuple[Any, Any]]]:
    """(keys to set, keys to reset to the broker default, per-field diff)."""
    declared: Mapping[str, str] = spec.get("config") or {}
    to_set: dict[str, str] = {}
    diff: dict[str, tuple[Any, Any]] = {}
    for key, value in sorted(declared.items()):
        if live.config and key not in live.config:
            raise SluiceError(
                f"topic '{topic}': '{key}' is not a topic config this broker knows",
                location=owner.location if owner else None,
                hint="check the spelling against the broker's topic configs "
                "(kafka-configs.sh --describe --all)",
            )
        if not _same(key, live.config.get(key), value):
            to_set[key] = value
            diff[f"config.{key}"] = (live.config.get(key), value)
    previously = (record.spec.get("config") or {}) if record else {}
    to_reset = sorted(k for k in previously if k not in declared and k in live.overridden)
    for key in to_reset:
        diff[f"config.{key}"] = (live.config.get(key), None)  # None: the broker's default
    return to_set, to_reset, diff


def _same(key: str, live: str | None, wanted: str | None) -> bool:
    if key in _LIST_KEYS and live is not None and wanted is not None:
        return _as_set(live) == _as_set(wanted)
    return live == wanted


def _as_set(text: str) -> set[str]:
    return {part.strip() for part in text.split(",") if part.strip()}


def _compaction_dropped(spec: Mapping[str, Any], live: LiveTopic) -> bool:
    policy = (spec.get("config") or {}).get("cleanup.policy")
    was = live.config.get("cleanup.policy") or ""
    return policy is not None and "compact" in was and "compact" not in policy


def check_source_topic(artifact: Artifact, exists: bool, owner: Owner | None) -> None:
    """Sources are read, never created: a missing topic a source needs is a plan error."""
    if exists or not artifact.spec.get("must_exist", True):
        return
    source = f"source '{owner.name}'" if owner else "a source"
    where = f" (declared in {owner.file})" if owner and owner.file else ""
    raise SluiceError(
        f"{source} reads topic '{artifact.name}', which does not exist{where}",
        location=owner.location if owner else None,
        hint="sluice never creates a source's topic: create it (or start its producer), "
        "or correct the source's topic:",
    )


# -- orphans and destroy ----------------------------------------------------------------------


def plan_orphan_topics(given: PlanInput) -> list[Change]:
    """Deletes (node None) of topics sluice recorded whose model left the whole project."""
    in_project = {a.name for a in given.project_artifacts if a.kind == "topic"}
    changes = []
    for (kind, name), record in sorted(given.records.items()):
        if kind != "topic" or name in in_project:
            continue
        exists = name in given.live
        changes.append(
            Change(
                PLUGIN,
                "delete",
                "topic",
                name,
                None,
                diff=_deletion_diff(given.live.get(name)),
                destructive=exists,
                reason="its model left the project"
                + ("" if exists else " (already gone; apply forgets it)"),
                payload={"spec": dict(record.spec)},
                stage=STORAGE,
            )
        )
    return changes


def plan_destroy(given: PlanInput) -> list[Change]:
    """Deletes of the selected resources sluice manages; never a source's topic."""
    changes = []
    for artifact in given.artifacts:
        owner = given.owners.get(artifact.key)
        record = given.records.get((artifact.kind, artifact.name))
        if record is None:
            continue  # not ours: never touched
        if artifact.kind == "topic":
            changes.append(
                Change(
                    PLUGIN,
                    "delete",
                    "topic",
                    artifact.name,
                    owner.uid if owner else None,
                    diff=_deletion_diff(given.live.get(artifact.name)),
                    destructive=True,
                    reason="destroy",
                    stage=STORAGE,
                )
            )
        elif artifact.kind == "schema" and given.check is not None:
            changes.append(_subject_deletion(artifact.name, owner, "destroy", given))
    return changes + _destroy_acls(given)


def _destroy_acls(given: PlanInput) -> list[Change]:
    """Deletes of the bindings sluice recorded for the selected nodes, except those a node
    that stays still wants (a reader's group prefix, the jobs' prefix)."""
    selected = {a.key for a in given.artifacts}
    staying = _bindings_of(a for a in given.project_artifacts if a.key not in selected)
    claimed: set[Binding] = set()
    changes = []
    for artifact in sorted(given.artifacts, key=lambda a: a.name):
        record = given.records.get((artifact.kind, artifact.name))
        if artifact.kind != "acls" or record is None:
            continue
        doomed = (_recorded_bindings(record) & given.bindings) - staying - claimed
        claimed |= doomed
        owner = given.owners.get(artifact.key)
        changes.append(_acl_change("delete", artifact.name, owner, set(), doomed, None))
    return changes


def plan_orphan_subjects(given: PlanInput) -> list[Change]:
    """Deletes (node None) of subjects sluice registered for a model that left the project.

    A recorded subject that is now a source's is forgotten instead: sluice never deletes the
    subject of a source, not even after that source leaves the project too.
    """
    if given.check is None:
        return []  # no registry configured: nothing to ask, nothing to delete
    project = given.project_artifacts
    models = {a.name for a in project if a.kind == "schema"}
    sources = {a.name: a for a in project if a.kind == "source_schema"}
    changes = []
    for (kind, name), _record in sorted(given.records.items()):
        if kind != "schema" or name in models:
            continue
        if name in sources:
            owner = given.owners.get(sources[name].key)
            changes.append(
                Change(
                    PLUGIN,
                    "update",
                    "schema",
                    name,
                    owner.uid if owner else None,
                    reason="now a source's subject: apply forgets it, and never deletes it",
                    payload={"spec": None, "register": False, "compatibility": None},
                    stage=STORAGE,
                )
            )
            continue
        changes.append(_subject_deletion(name, None, "its model left the project", given))
    return changes


def _subject_deletion(subject: str, owner: Owner | None, reason: str, given: PlanInput) -> Change:
    live = given.subjects.get(subject)
    gone = live is not None and live.latest is None
    return Change(
        PLUGIN,
        "delete",
        "schema",
        subject,
        owner.uid if owner else None,
        diff={"version": (live.latest.version, None)} if live and live.latest else {},
        destructive=not gone,
        reason=reason + (" (already gone; apply forgets it)" if gone else ""),
        payload={"spec": None},
        stage=STORAGE,
    )


def _deletion_diff(live: LiveTopic | None) -> dict[str, tuple[Any, Any]]:
    return {"partitions": (live.partitions, None)} if live else {}


# -- ACLs -------------------------------------------------------------------------------------


def plan_acls(given: PlanInput) -> list[Change]:
    """Bindings as one set for the whole project: create the missing, delete the extra that
    sluice recorded and no node of the project wants any more.

    A binding several nodes want (a reader's group prefix) is created once, by the first
    change that needs it. A node that stays but grants nothing any more is revoked on a plain
    apply; the bindings of a node that left the project are orphans (``--prune``).
    """
    desired = {a.name: a for a in given.artifacts if a.kind == "acls"}
    recorded = {name: r for (kind, name), r in given.records.items() if kind == "acls"}
    if not desired and not recorded:
        return []
    if desired and not given.acls_enabled:
        names = ", ".join(sorted(desired))
        raise SluiceError(
            f"ACL bindings are planned for {names}, but the cluster has no authorizer, "
            "so Kafka ACLs cannot be applied",
            hint="enable an authorizer on the brokers (authorizer.class.name), or remove "
            "access: (and set runtime.kafka.own_acls: never)",
        )
    project = [a for a in given.project_artifacts if a.kind == "acls"]
    wanted_anywhere = _bindings_of(project)
    in_project = {a.name for a in project}
    selected = given.selected
    if selected is None:
        selected = {given.owners[a.key].uid for a in given.artifacts if a.key in given.owners}
    claimed: set[Binding] = set()  # created or deleted by an earlier change of this plan
    changes = []
    # nodes of the project first, so a binding both they and an orphan hold goes with them
    for name in sorted(set(desired) | set(recorded), key=lambda n: (n not in desired, n)):
        artifact, record = desired.get(name), recorded.get(name)
        if artifact is None and name in in_project:
            continue  # its node was merely not selected
        owner = given.owners.get(artifact.key) if artifact else _recorded_owner(name, given)
        if artifact is None and owner is not None and owner.uid not in selected:
            continue
        wanted = _bindings_of([artifact]) if artifact else set()
        ours = _recorded_bindings(record) & given.bindings
        missing = wanted - given.bindings - claimed
        extra = ours - wanted_anywhere - claimed
        claimed |= missing | extra
        change = _acl_plan(name, artifact, record, owner, missing, extra, given.bindings)
        changes += [change] if change else []
    return changes


def _acl_plan(
    name: str,
    artifact: Artifact | None,
    record: Record | None,
    owner: Owner | None,
    missing: set[Binding],
    extra: set[Binding],
    live: set[Binding],
) -> Change | None:
    """The change of one set of bindings, or None when the cluster and the record match."""
    spec = dict(artifact.spec) if artifact else None
    if artifact is None and owner is None:
        return _acl_change("delete", name, None, set(), extra, None, orphan=True)
    if missing or extra:
        fresh = record is None and not (_bindings_of([artifact]) & live if artifact else set())
        return _acl_change("create" if fresh else "update", name, owner, missing, extra, spec)
    if spec is not None and (record is None or record.spec_hash != spec_hash(spec)):
        reason = "the bindings exist; apply records them as managed"
        return _acl_change("update", name, owner, set(), set(), spec, reason=reason)
    if spec is None and record is not None:
        return _acl_change("update", name, owner, set(), set(), None, reason="forget record")
    return None


def _recorded_owner(name: str, given: PlanInput) -> Owner | None:
    """The node a recorded binding set belongs to, if it is still in the project: the node its
    record names, or (records written before they named one) the node of the topic."""
    record = given.records[("acls", name)]
    uid = record.spec.get("node")
    if isinstance(uid, str):
        return given.nodes.get(uid)
    return next(
        (
            given.owners[a.key]
            for a in given.project_artifacts
            if a.kind == "topic" and a.name == name and a.key in given.owners
        ),
        None,
    )


def _bindings_of(artifacts: Iterable[Artifact]) -> set[Binding]:
    return {Binding.from_spec(b) for a in artifacts for b in a.spec.get("bindings", ())}


def _recorded_bindings(record: Record | None) -> set[Binding]:
    if record is None:
        return set()
    return {Binding.from_spec(b) for b in record.spec.get("bindings", ())}


def _acl_change(
    action: Any,
    topic: str,
    owner: Owner | None,
    create: Iterable[Binding],
    delete: Iterable[Binding],
    spec: Mapping[str, Any] | None,
    reason: str | None = None,
    orphan: bool = False,
) -> Change:
    create, delete = sorted(create), sorted(delete)
    diff: dict[str, tuple[Any, Any]] = {}
    for binding in create:
        diff[_binding_label(binding)] = (None, binding.permission)
    for binding in delete:
        diff[_binding_label(binding)] = (binding.permission, None)
    if orphan:
        reason = "its node left the project"
    return Change(
        PLUGIN,
        action,
        "acls",
        topic,
        None if orphan or owner is None else owner.uid,
        diff=diff,
        destructive=False,
        reason=reason,
        payload={
            "create": [b.to_spec() for b in create],
            "delete": [b.to_spec() for b in delete],
            "spec": spec,
        },
        stage=STORAGE,
    )


def _binding_label(binding: Binding) -> str:
    return binding.label()
