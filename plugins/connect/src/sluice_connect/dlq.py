"""Dead letter topics of sinks: created before the connector, deleted with it.

The core takes only a plugin's own artifacts from its compile hook, so the topic cannot be
planned by sluice-kafka; sluice-connect creates it itself with confluent-kafka's AdminClient,
reaching the brokers through ``runtime.kafka`` (the section sluice-kafka owns; only its
connection settings are read here). The topic belongs to the connector: a connector sluice
deletes (prune, destroy) takes the dead letter topic its config names along, when that
connector carries sluice's marker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.errors import RemoteError
from sluice.runtime import kafka_client_settings

TIMEOUT = 30.0


def kafka_settings(runtime: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """librdkafka settings from ``runtime.kafka`` (its connection fields, secrets revealed)."""
    section = runtime.get("kafka")
    if section is None:
        raise RemoteError(
            "a dead letter topic is created through runtime.kafka, which is not configured",
            hint="add runtime.kafka (plugin sluice-kafka), or remove dlq: from the sink",
        )
    return dict(kafka_client_settings(section))


def _admin(runtime: Mapping[str, Any]) -> Any:
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError as exc:  # pragma: no cover - sluice-kafka brings it
        raise RemoteError(
            "creating a dead letter topic needs confluent-kafka",
            hint="pip install sluice-kafka (or confluent-kafka)",
        ) from exc
    return AdminClient(kafka_settings(runtime))


def topic_exists(runtime: Mapping[str, Any], topic: str) -> bool:
    admin = _admin(runtime)
    try:
        # every topic: asking for one by name makes brokers with auto.create.topics.enable
        # create it, with their defaults, before sluice does
        metadata = admin.list_topics(timeout=TIMEOUT)
    except Exception as exc:  # KafkaException: the brokers did not answer
        raise RemoteError(f"Kafka did not answer a look-up of topic {topic}: {exc}") from exc
    found = metadata.topics.get(topic)
    return found is not None and found.error is None


def create_topic(runtime: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    """Create the topic unless it exists; True when this call created it."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    admin = _admin(runtime)
    topic = str(spec["topic"])
    new = NewTopic(
        topic,
        num_partitions=int(spec.get("partitions") or -1),
        replication_factor=int(spec.get("replication_factor") or -1),
    )
    future = admin.create_topics([new], request_timeout=TIMEOUT)[topic]
    try:
        future.result(timeout=TIMEOUT)
    except Exception as exc:
        error = exc.args[0] if exc.args else None
        if getattr(error, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise RemoteError(f"Kafka refused to create dead letter topic {topic}: {exc}") from exc
    return True


def delete_topic(runtime: Mapping[str, Any], topic: str) -> None:
    from confluent_kafka import KafkaError

    admin = _admin(runtime)
    future = admin.delete_topics([topic], request_timeout=TIMEOUT)[topic]
    try:
        future.result(timeout=TIMEOUT)
    except Exception as exc:
        error = exc.args[0] if exc.args else None
        if getattr(error, "code", lambda: None)() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return
        raise RemoteError(f"Kafka refused to delete dead letter topic {topic}: {exc}") from exc
