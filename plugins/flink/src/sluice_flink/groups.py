"""The consumer groups of sluice's Flink jobs: where a job's read position lives.

A job's Kafka sources read with ``properties.group.id`` = the job's name
(``sluice.<project>.<model>``, a continuous test's ``sluice.<project>.test.<test>``, see
:mod:`sluice.naming`) and ``scan.startup.mode = group-offsets``: a job submitted without a
savepoint starts where the group's committed offsets say, and from the earliest offsets when
the group has none. Flink's Kafka source assigns itself its partitions and commits offsets on
each checkpoint; it never joins the group, so the group has no members while the job runs, and
stops changing once the job has ended. When sluice deletes a job (``destroy``, ``apply
--prune``), it deletes the group too, after the job has stopped: a later apply of the same
model then reads its inputs from the start again, as a first apply did.

The client uses the settings of ``runtime.kafka`` (:func:`sluice.runtime.kafka_client_settings`),
the cluster the jobs read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from sluice.errors import RemoteError
from sluice.runtime import kafka_client_settings

TIMEOUT = 30.0  # one admin request
DEAD = "DEAD"  # the state Kafka describes a group in that does not exist


def _admin(runtime: Mapping[str, Any]) -> AdminClient:
    kafka = runtime.get("kafka")
    if kafka is None:
        raise RemoteError(
            "deleting a Flink job's consumer group needs runtime.kafka (the cluster the job reads)"
        )
    return AdminClient({**kafka_client_settings(kafka), "log_level": 0})


def _error(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def existing(runtime: Mapping[str, Any], names: Sequence[str]) -> set[str]:
    """Those of ``names`` that are groups Kafka knows (with committed offsets, or members).

    A group Kafka cannot describe (no ``DESCRIBE`` on it, a timeout) counts as existing: the
    delete is planned, and its apply says what went wrong."""
    if not names:
        return set()
    found = set()
    admin = _admin(runtime)  # held while its futures are pending: they die with it
    futures = admin.describe_consumer_groups(list(names), request_timeout=TIMEOUT)
    for name, future in futures.items():
        try:
            state = future.result(timeout=TIMEOUT).state
        except Exception as exc:  # any failure: let the apply find out
            error = _error(exc)
            if error is not None and error.code() == KafkaError.GROUP_ID_NOT_FOUND:
                continue
            found.add(name)
            continue
        if getattr(state, "name", str(state)) != DEAD:
            found.add(name)
    return found


def delete(runtime: Mapping[str, Any], name: str) -> bool:
    """Delete the consumer group ``name``: True when it was deleted, False when there was
    none (nothing to forget). Call it once the job that committed to it has stopped."""
    admin = _admin(runtime)  # held while its future is pending: it dies with it
    future = admin.delete_consumer_groups([name], request_timeout=TIMEOUT)[name]
    try:
        future.result(timeout=TIMEOUT)
    except Exception as exc:  # KafkaException, or a timeout of the future
        error = _error(exc)
        code = error.code() if error is not None else None
        if code == KafkaError.GROUP_ID_NOT_FOUND:
            return False
        if code == KafkaError.GROUP_AUTHORIZATION_FAILED:
            raise RemoteError(
                f"Kafka refused to delete the consumer group {name} "
                "(GROUP_AUTHORIZATION_FAILED); its committed offsets stay, and a later apply "
                "would resume the job from them",
                hint=f"grant sluice's principal DELETE on the group {name} (or on the groups "
                "of the prefix sluice.<project>., every job's), then run the command again",
            ) from None
        if code == KafkaError.NON_EMPTY_GROUP:
            raise RemoteError(
                f"the consumer group {name} has active members, so Kafka keeps it; a Flink "
                "job never joins its group, so some other consumer uses it",
                hint=f"stop the consumers of the group {name} (kafka-consumer-groups.sh "
                "--describe --members shows them), then run the command again",
            ) from None
        detail = error.str() if error is not None else str(exc) or type(exc).__name__
        raise RemoteError(f"deleting the consumer group {name} failed: {detail}") from None
    return True
