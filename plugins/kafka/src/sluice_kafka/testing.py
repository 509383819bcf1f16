"""Helpers for tests that run against a real Kafka (the integration tests of sluice and of
plugins built on sluice-kafka)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic


def create_topics(bootstrap: str, *names: str, partitions: int = 1, wait: float = 15.0) -> None:
    """Create ``names`` and return once the cluster's metadata lists every one of them.

    The controller acknowledges a creation before every broker serves the topic's metadata;
    a check that runs at once (``sluice plan`` verifies source topics) could still miss it.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    for future in futures.values():
        future.result(timeout=30)
    deadline = time.monotonic() + wait
    while True:
        listed = admin.list_topics(timeout=10).topics
        if all(name in listed and not listed[name].error for name in names):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {sorted(set(names) - set(listed))} never appeared")
        time.sleep(0.1)


class TopicReader:
    """Reads the JSON values of a topic from its start, in a group of its own, across several
    checks of one story."""

    def __init__(self, bootstrap: str, topic: str, isolation: str = "read_uncommitted") -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"sluice-test-reader-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": isolation,
            }
        )
        self.consumer.subscribe([topic])
        self.rows: list[Any] = []

    def until(self, count: int, timeout: float = 90.0, settle: float = 4.0) -> list[Any]:
        """Every row so far, once at least ``count`` came and nothing more for ``settle``
        seconds (so duplicates have time to show), or when ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        settled_at: float | None = None
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.5)
            if message is not None and message.error() is None:
                self.rows.append(json.loads(message.value() or b"null"))
                settled_at = None
            if len(self.rows) >= count:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle:
                    break
        return list(self.rows)

    def close(self) -> None:
        self.consumer.close()
