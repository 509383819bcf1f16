"""Helpers for tests that run against a real Kafka (the integration tests of sluice and of
plugins built on sluice-kafka)."""

from __future__ import annotations

import time

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
