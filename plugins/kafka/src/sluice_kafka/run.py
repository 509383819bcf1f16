"""One online run of sluice-kafka: the clients and state it keeps between hooks.

The core hands every hook of a run the same :class:`sluice.runtime.RunContext`; the run keeps
its admin client, state store and lock claim in ``context.scratch["kafka"]``, so plan and
apply share one connection and the lock taken in ``sluice_apply_started`` is renewed and
released by the same run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.errors import PluginError
from sluice.plugin.api import ApplyResult, Artifact, Change, LineageEdge, StatusItem
from sluice.runtime import RunContext
from sluice_kafka import status
from sluice_kafka.applier import apply_batch, apply_change
from sluice_kafka.client import KafkaAdmin
from sluice_kafka.config import KafkaConfig, SchemaRegistryConfig
from sluice_kafka.planner import Owner, PlanInput, plan_changes
from sluice_kafka.registry import RegistryClient
from sluice_kafka.schema_planner import LiveSubject
from sluice_kafka.state import RENEW_AFTER, Holder, StateStore, new_holder

SCRATCH = "kafka"


class KafkaRun:
    def __init__(self, kafka: KafkaConfig, context: RunContext) -> None:
        self.context = context
        self.admin = KafkaAdmin(kafka)
        info = context.project.info
        self.version = info.version
        self.state = StateStore(self.admin, info.name, context.project.env or "default")
        self.holder: Holder | None = None
        registry = context.runtime.get("schema_registry")
        self.registry = (
            RegistryClient(registry) if isinstance(registry, SchemaRegistryConfig) else None
        )
        self._lock = threading.Lock()  # changes of independent nodes are applied in parallel

    @classmethod
    def of(cls, context: RunContext) -> KafkaRun | None:
        """The run of ``context`` (made on first use), or None without ``runtime.kafka``."""
        kafka = context.runtime.get("kafka")
        if not isinstance(kafka, KafkaConfig):
            return None
        run = context.scratch.get(SCRATCH)
        if not isinstance(run, KafkaRun):
            run = context.scratch[SCRATCH] = cls(kafka, context)
        return run

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, artifacts: Sequence[Artifact]) -> list[Change]:
        project = self.context.project_artifacts(SCRATCH)
        snapshot = self.state.read()
        topics = {a.name for a in [*artifacts, *project] if a.kind in ("topic", "source_topic")}
        topics |= {name for kind, name in snapshot.records if kind == "topic"}
        acls_needed = any(a.kind == "acls" for a in artifacts) or bool(snapshot.of_kind("acls"))
        enabled = self.admin.acls_enabled()[0] if acls_needed else True
        given = PlanInput(
            artifacts=artifacts,
            project_artifacts=project,
            owners=self.owners(),
            live=self.admin.describe_topics(topics),
            records=snapshot.records,
            bindings=self.admin.bindings() if acls_needed and enabled else set(),
            nodes=self.nodes(),
            selected=self.context.selected,
            acls_enabled=enabled,
            allow_recreate=self.context.allow_recreate,
            destroy=self.context.destroy,
            subjects=self.live_subjects(artifacts, project, snapshot.of_kind("schema")),
            check=self.registry.check if self.registry else None,
        )
        changes = plan_changes(given)
        for warning in given.warnings:
            self.context.echo(f"warning: {warning}")
        return changes

    def live_subjects(
        self,
        artifacts: Sequence[Artifact],
        project: Sequence[Artifact],
        recorded: Mapping[str, Any],
    ) -> dict[str, LiveSubject]:
        """Latest version and level of the subjects of ``artifacts``, and the latest version of
        recorded subjects that left the project (none without a registry)."""
        if self.registry is None or self.context.destroy:
            return {}
        subjects = {}
        for artifact in artifacts:
            if artifact.kind in ("schema", "source_schema"):
                latest = self.registry.latest(artifact.name)
                level = self.registry.compatibility(artifact.name) if latest else None
                subjects[artifact.name] = LiveSubject(latest, level)
        named = {a.name for a in project if a.kind in ("schema", "source_schema")}
        for subject in sorted(set(recorded) - named):
            subjects[subject] = LiveSubject(self.registry.latest(subject), None)
        return subjects

    def nodes(self) -> dict[str, Owner]:
        """Every node of the project, by unique id."""
        return {
            uid: Owner(uid, node.name, node.file, node.line)
            for uid, node in self.context.manifest.nodes.items()
        }

    def owners(self) -> dict[str, Owner]:
        manifest = self.context.manifest
        owners = {}
        for uid, artifacts in manifest.artifacts.items():
            node = manifest.nodes.get(uid)
            for artifact in artifacts:
                if artifact.plugin == SCRATCH:
                    file, line = (node.file, node.line) if node else (None, None)
                    owners[artifact.key] = Owner(uid, node.name if node else uid, file, line)
        return owners

    # -- apply --------------------------------------------------------------------------------

    def started(self) -> None:
        self.holder = self.state.take_lock(new_holder())

    def apply(self, change: Change) -> ApplyResult:
        self._renew_lock()
        return apply_change(change, self.admin, self.state, self.version, self.registry)

    def apply_batch(self, changes: Sequence[Change]) -> list[ApplyResult] | None:
        self._renew_lock()
        return apply_batch(changes, self.admin, self.state, self.version)

    def finished(self) -> None:
        with self._lock:
            holder, self.holder = self.holder, None
        try:
            if holder is not None:
                self.state.release_lock(holder)
        finally:
            self.state.close()
            if self.registry is not None:
                self.registry.close()

    def _renew_lock(self) -> None:
        with self._lock:
            if self.holder is None:
                raise PluginError(
                    "sluice-kafka was asked to apply a change before sluice_apply_started",
                    hint="the core calls sluice_apply_started before any change",
                )
            if time.time() - self.holder.claimed_at > RENEW_AFTER:
                self.holder = self.state.renew_lock(self.holder)

    # -- status and lineage -------------------------------------------------------------------

    def status(self, nodes: Sequence[Any], artifacts: Sequence[Artifact]) -> list[StatusItem]:
        owners = {key: owner.uid for key, owner in self.owners().items()}
        items = status.topic_status(
            [a for a in artifacts if a.plugin == SCRATCH], owners, self.admin
        )
        groups = {
            n.unique_id: n.spec.consumer_group
            for n in nodes
            if n.resource_type == "exposure" and getattr(n.spec, "consumer_group", None)
        }
        return items + status.group_lag(groups, self.admin)

    def lineage(self) -> list[LineageEdge]:
        manifest = self.context.manifest
        topic_nodes = {
            a.name: owner.uid
            for key, owner in self.owners().items()
            for a in manifest.artifacts.get(owner.uid, ())
            if a.key == key and a.kind in ("topic", "source_topic")
        }
        group_nodes = {
            n.spec.consumer_group: uid
            for uid, n in manifest.nodes.items()
            if n.resource_type == "exposure" and getattr(n.spec, "consumer_group", None)
        }
        return status.consumer_lineage(self.admin, topic_nodes, group_nodes)
