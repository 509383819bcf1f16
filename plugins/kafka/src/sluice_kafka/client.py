"""Talking to the cluster: one thin wrapper over confluent-kafka's AdminClient.

Every call is batched (one request for all topics, not one per topic and field), bounded by a
timeout, and turns Kafka's errors into :class:`sluice.errors.RemoteError` with a hint. The
planner and the state store see plain values (:class:`LiveTopic`, :class:`Binding`), never
confluent-kafka objects.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)

from sluice.errors import RemoteError
from sluice.memory import collector_paused
from sluice.runtime import kafka_client_settings
from sluice_kafka.acls import Binding
from sluice_kafka.config import KafkaConfig

DEFAULT_TIMEOUT = 30.0

# Config sources that mean "somebody set this on the topic", as opposed to a broker default.
_SET_ON_TOPIC = {ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


def client_config(kafka: KafkaConfig) -> dict[str, Any]:
    """librdkafka settings for ``runtime.kafka``, secrets revealed only here."""
    # connection noise goes to our errors, not to stderr
    return {**kafka_client_settings(kafka), "log_level": 0}


@dataclass(frozen=True)
class ClusterInfo:
    cluster_id: str | None
    brokers: int
    controller: int | None


@dataclass(frozen=True)
class LiveTopic:
    """What the broker holds for one topic: its shape and every config with its origin."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str | None]
    # keys whose value was set on the topic itself (not inherited from a broker default)
    overridden: frozenset[str] = field(default_factory=frozenset)


_Acl = TypeVar("_Acl", bound=AclBinding)


def _acl(binding: Binding, kind: type[_Acl]) -> _Acl:
    """``binding`` as an AclBinding, or as an AclBindingFilter that matches exactly ``binding``
    and nothing else."""
    return kind(
        ResourceType[binding.resource_type],
        binding.resource_name,
        ResourcePatternType[binding.pattern_type],
        binding.principal,
        binding.host,
        AclOperation[binding.operation],
        AclPermissionType[binding.permission],
    )


def _binding(acl: AclBinding) -> Binding:
    return Binding(
        _enum_name(acl.restype),
        acl.name,
        _enum_name(acl.resource_pattern_type),
        acl.principal,
        acl.host,
        _enum_name(acl.operation),
        _enum_name(acl.permission_type),
    )


def _enum_name(value: Any) -> str:
    """confluent-kafka types these fields as enum, str or int; they are enums at run time."""
    return str(getattr(value, "name", value))


# AclBindingFilter takes None for "any" at run time, though its stubs say str.
ANY: Any = None


def kafka_error(exc: BaseException) -> KafkaError | None:
    """The KafkaError inside a KafkaException (or None for other exceptions)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def error_code(exc: BaseException) -> int | None:
    error = kafka_error(exc)
    return error.code() if error is not None else None


class KafkaAdmin:
    """The admin calls sluice makes, each one request for many resources."""

    def __init__(self, kafka: KafkaConfig, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.kafka = kafka
        self.timeout = timeout
        self.config = client_config(kafka)
        self.admin = AdminClient(self.config)

    # -- cluster ------------------------------------------------------------------------------

    def cluster(self) -> ClusterInfo:
        try:
            described = self.admin.describe_cluster(request_timeout=self.timeout).result()
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        controller = described.controller.id if described.controller is not None else None
        return ClusterInfo(described.cluster_id, len(described.nodes), controller)

    def acls_enabled(self) -> tuple[bool, str | None]:
        """Whether the cluster has an authorizer we may ask, and why not when it has none."""
        probe = AclBindingFilter(
            ResourceType.TOPIC,
            "__sluice_probe__",
            ResourcePatternType.LITERAL,
            ANY,
            ANY,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        try:
            self.admin.describe_acls(probe, request_timeout=self.timeout).result()
        except KafkaException as exc:
            if error_code(exc) == KafkaError.SECURITY_DISABLED:
                return False, "the cluster has no authorizer"
            return False, f"describing ACLs failed: {_text(exc)}"
        return True, None

    # -- topics -------------------------------------------------------------------------------

    def describe_topics(self, names: Iterable[str]) -> dict[str, LiveTopic]:
        """The live state of each named topic that exists (two requests in all)."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        try:
            metadata = self.admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        shapes: dict[str, tuple[int, int]] = {}
        for name in wanted:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                continue
            replicas = max(len(p.replicas) for p in topic.partitions.values())
            shapes[name] = (len(topic.partitions), replicas)
        configs = self.describe_topic_configs(shapes)
        return {
            name: LiveTopic(name, parts, replicas, *configs[name])
            for name, (parts, replicas) in shapes.items()
            if name in configs
        }

    def describe_topic_configs(
        self, names: Iterable[str]
    ) -> dict[str, tuple[dict[str, str | None], frozenset[str]]]:
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in sorted(names)]
        if not resources:
            return {}
        found: dict[str, tuple[dict[str, str | None], frozenset[str]]] = {}
        # the replies become some 33 ConfigEntry objects per topic, made while we wait
        with collector_paused():
            futures = self.admin.describe_configs(resources, request_timeout=self.timeout)
            for resource, future in futures.items():
                try:
                    entries = future.result()
                except KafkaException as exc:
                    if error_code(exc) == KafkaError.UNKNOWN_TOPIC_OR_PART:
                        continue  # deleted between the two requests
                    raise RemoteError(
                        f"describing the configs of topic '{resource.name}' failed: {_text(exc)}",
                        hint="the principal needs DESCRIBE_CONFIGS on the topic",
                    ) from exc
                values = {key: entry.value for key, entry in entries.items()}
                overridden = frozenset(k for k, e in entries.items() if e.source in _SET_ON_TOPIC)
                found[resource.name] = (values, overridden)
        return found

    def topic_names(self) -> set[str]:
        try:
            return set(self.admin.list_topics(timeout=self.timeout).topics)
        except KafkaException as exc:
            raise self._unreachable(exc) from exc

    def create_topic(
        self, name: str, partitions: int | None, replication: int | None, config: Mapping[str, str]
    ) -> None:
        # -1 lets the broker choose (num.partitions, default.replication.factor)
        topic = NewTopic(name, partitions or -1, replication or -1, config=dict(config))
        self._wait(self.admin.create_topics([topic], request_timeout=self.timeout), "create topic")

    def create_topics(
        self, specs: Mapping[str, tuple[int | None, int | None, Mapping[str, str]]]
    ) -> dict[str, str | None]:
        """Create many topics in one request: name -> None when created, else the error."""
        topics = [
            NewTopic(name, partitions or -1, replication or -1, config=dict(config))
            for name, (partitions, replication, config) in specs.items()
        ]
        try:
            futures = self.admin.create_topics(topics, request_timeout=self.timeout)
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        outcome: dict[str, str | None] = {}
        for name, future in futures.items():
            try:
                future.result()
                outcome[name] = None
            except KafkaException as exc:
                outcome[name] = f"create topic '{name}' failed: {_text(exc)}"
        return outcome

    def wait_for_topics(
        self, wanted: Mapping[str, tuple[int | None, Mapping[str, str | None]]]
    ) -> set[str]:
        """Wait until the metadata shows every topic of ``wanted`` (name -> partitions,
        config); returns those it still did not show at the deadline."""
        missing = set(wanted)
        deadline = time.monotonic() + self.timeout
        while missing and time.monotonic() < deadline:
            live = self.describe_topics(missing)
            missing = {
                name
                for name in missing
                if name not in live or not _shows(live[name], *wanted[name])
            }
            if missing:
                time.sleep(0.1)
        return missing

    def wait_for_topic(
        self, name: str, partitions: int | None = None, config: Mapping[str, str | None] = {}
    ) -> None:
        """Wait until the brokers' metadata shows what was just changed.

        The controller answers before every broker applied the change; without this wait a
        plan right after apply could still see the old topic. ``config`` values of None mean
        "back to the default" and are not checked.
        """
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            live = self.describe_topics([name]).get(name)
            if live is not None and _shows(live, partitions, config):
                return
            time.sleep(0.1)
        raise RemoteError(
            f"topic '{name}' was changed but the brokers did not show it within {self.timeout:g}s",
            hint="rerun plan in a moment; the brokers may be slow to propagate metadata",
        )

    def wait_until_gone(self, name: str) -> None:
        """Topic deletion is asynchronous: wait until no broker lists ``name``."""
        deadline = time.monotonic() + self.timeout
        while name in self.topic_names():
            if time.monotonic() > deadline:
                raise RemoteError(
                    f"topic '{name}' was deleted but still exists after {self.timeout:g}s",
                    hint="rerun apply once the brokers finished deleting it",
                )
            time.sleep(0.2)

    def add_partitions(self, name: str, total: int) -> None:
        futures = self.admin.create_partitions(
            [NewPartitions(name, total)], request_timeout=self.timeout
        )
        self._wait(futures, "add partitions to topic")

    def alter_topic_configs(
        self, name: str, set_values: Mapping[str, str], reset: Iterable[str]
    ) -> None:
        """Set ``set_values`` and return the ``reset`` keys to the broker default, at once."""
        entries = [
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in sorted(set_values.items())
        ]
        entries += [
            ConfigEntry(key, None, incremental_operation=AlterConfigOpType.DELETE)
            for key in sorted(reset)
        ]
        if not entries:
            return
        resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
        futures = self.admin.incremental_alter_configs([resource], request_timeout=self.timeout)
        self._wait(futures, "alter the configs of topic")

    def delete_topic(self, name: str) -> bool:
        """Delete ``name``; False when it was already gone."""
        futures = self.admin.delete_topics([name], request_timeout=self.timeout)
        try:
            self._wait(futures, "delete topic")
        except RemoteError as exc:
            if isinstance(exc.__cause__, KafkaException) and error_code(exc.__cause__) == (
                KafkaError.UNKNOWN_TOPIC_OR_PART
            ):
                return False
            raise
        return True

    # -- ACLs ---------------------------------------------------------------------------------

    def bindings(self) -> set[Binding]:
        """Every ACL binding of the cluster, of any resource and pattern (one request; empty
        without an authorizer)."""
        every = AclBindingFilter(
            ResourceType.ANY,
            ANY,
            ResourcePatternType.ANY,
            ANY,
            ANY,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        try:
            found = self.admin.describe_acls(every, request_timeout=self.timeout).result()
        except KafkaException as exc:
            if error_code(exc) == KafkaError.SECURITY_DISABLED:
                return set()
            raise RemoteError(
                f"describing ACLs failed: {_text(exc)}",
                hint="the principal sluice uses needs DESCRIBE on the cluster",
            ) from exc
        return {_binding(b) for b in found}

    def create_bindings(self, bindings: Iterable[Binding]) -> dict[Binding, str | None]:
        """Create ``bindings`` in one request: binding -> None when created, else the error."""
        wanted = sorted(set(bindings))
        if not wanted:
            return {}
        try:
            futures = self.admin.create_acls(
                [_acl(b, AclBinding) for b in wanted], request_timeout=self.timeout
            )
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        return {_binding(key): _failure(future, "create ACL") for key, future in futures.items()}

    def delete_bindings(self, bindings: Iterable[Binding]) -> dict[Binding, str | None]:
        """Delete ``bindings`` (each by an exact filter) in one request: binding -> None when
        deleted or already gone, else the error."""
        doomed = sorted(set(bindings))
        if not doomed:
            return {}
        try:
            futures = self.admin.delete_acls(
                [_acl(b, AclBindingFilter) for b in doomed], request_timeout=self.timeout
            )
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        return {_binding(key): _failure(future, "delete ACL") for key, future in futures.items()}

    # -- consumer groups ----------------------------------------------------------------------

    def group_ids(self) -> list[str]:
        try:
            listed = self.admin.list_consumer_groups(request_timeout=self.timeout).result()
        except KafkaException as exc:
            raise self._unreachable(exc) from exc
        return sorted(g.group_id for g in listed.valid)

    def group_states(self, groups: Sequence[str]) -> dict[str, str]:
        """Group id -> its state (STABLE, EMPTY, DEAD ...); one request for all."""
        if not groups:
            return {}
        futures = self.admin.describe_consumer_groups(list(groups), request_timeout=self.timeout)
        states = {}
        for group, future in futures.items():
            try:
                states[group] = future.result().state.name
            except KafkaException:
                states[group] = "UNKNOWN"
        return states

    def committed_offsets(self, group: str) -> dict[tuple[str, int], int]:
        """(topic, partition) -> committed offset of ``group``; librdkafka asks per group."""
        request = [ConsumerGroupTopicPartitions(group)]
        futures = self.admin.list_consumer_group_offsets(request, request_timeout=self.timeout)
        try:
            answer = next(iter(futures.values())).result()
        except KafkaException as exc:
            if error_code(exc) == KafkaError.GROUP_ID_NOT_FOUND:
                return {}
            raise RemoteError(
                f"reading the offsets of group '{group}' failed: {_text(exc)}"
            ) from exc
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in answer.topic_partitions or ()
            if tp.error is None and tp.offset >= 0
        }

    def end_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The high watermark of each partition, in one request."""
        request = {TopicPartition(t, p): OffsetSpec.latest() for t, p in set(partitions)}
        if not request:
            return {}
        futures = self.admin.list_offsets(request, request_timeout=self.timeout)
        ends = {}
        for tp, future in futures.items():
            try:
                ends[(tp.topic, tp.partition)] = future.result().offset
            except KafkaException:
                continue  # a deleted topic has no end; its lag is unknown
        return ends

    # -- helpers ------------------------------------------------------------------------------

    def _wait(self, futures: Mapping[Any, Any], what: str) -> None:
        """Wait for every future; the first failure becomes a RemoteError naming the resource."""
        for key, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                name = getattr(key, "topic", None) or getattr(key, "name", None) or str(key)
                raise RemoteError(f"{what} '{name}' failed: {_text(exc)}") from exc

    def _unreachable(self, exc: KafkaException) -> RemoteError:
        return RemoteError(
            f"cannot reach Kafka at {self.kafka.bootstrap_servers}: {_text(exc)}",
            hint="check runtime.kafka (bootstrap_servers, security settings) and that the "
            "brokers run; `sluice dev up kafka` starts a local one",
        )


def _failure(future: Any, what: str) -> str | None:
    """None when ``future`` succeeded, else what failed and why."""
    try:
        future.result()
    except KafkaException as exc:
        return f"{what} failed: {_text(exc)}"
    return None


def _shows(live: LiveTopic, partitions: int | None, config: Mapping[str, str | None]) -> bool:
    if live.partitions < (partitions or 1):
        return False
    return all(value is None or live.config.get(key) == value for key, value in config.items())


def _text(exc: BaseException) -> str:
    error = kafka_error(exc)
    return f"{error.name()}: {error.str()}" if error is not None else str(exc)
