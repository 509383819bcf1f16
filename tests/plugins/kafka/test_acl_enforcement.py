"""ACLs from ``access:`` enforced by a real broker, on the SASL listener of the dev Kafka.

sluice applies as ``admin`` (a super user); ``alice`` and ``bob`` are the dev stack's other
users. Each run uses its own project, topics and group prefixes, and destroys them at the end:
the users are shared, the bindings are not.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping

import pytest

from sluice.testing import RunResult, SluiceProject, local_stack
from sluice_kafka.client import ANY

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("jobs_stub_installed")]

confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import Consumer, KafkaError, Producer  # noqa: E402
from confluent_kafka.admin import (  # noqa: E402
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

Make = Callable[[Mapping[str, str]], SluiceProject]
Config = dict[str, str | int | float | bool]


@pytest.fixture(scope="module")
def kafka_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka"]) as env:
        yield {**env, "KAFKA_SASL_PASSWORD": "admin-secret"}


def _as(env: Mapping[str, str], user: str) -> Config:
    return {
        "bootstrap.servers": env["KAFKA_SASL_BOOTSTRAP"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
    }


@pytest.fixture(scope="module")
def admin(kafka_env: dict[str, str]) -> AdminClient:
    return AdminClient(_as(kafka_env, "admin"))


class Shop:
    """A project whose payments topic alice reads and bob writes; bob reads refunds."""

    def __init__(self, make: Make, env: dict[str, str]) -> None:
        self.name = f"acl-{uuid.uuid4().hex[:8]}"
        self.payments, self.refunds = f"{self.name}.payments", f"{self.name}.refunds"
        self.alice_groups, self.bob_groups = f"{self.name}.alice.", f"{self.name}.bob."
        self.env = env
        self.project = make({"stream_project.yml": self.text()})

    def text(self, with_refunds: bool = True) -> str:
        kafka = (
            '{ bootstrap_servers: "${KAFKA_SASL_BOOTSTRAP}", security_protocol: SASL_PLAINTEXT, '
            'sasl_mechanism: PLAIN, sasl_username: admin, sasl_password: "${KAFKA_SASL_PASSWORD}" }'
        )
        refunds = (
            "  - name: refunds\n    materialized: topic\n"
            f"    topic: {{ name: {self.refunds}, partitions: 1 }}\n"
            f"    access: {{ read: [{{ principal: User:bob, group_prefix: {self.bob_groups} }}] }}\n"
        )
        return (
            f'project: {{ name: {self.name}, version: "1.0.0" }}\n'
            f"runtime:\n  kafka: {kafka}\n  jobs_stub: {{}}\n"
            "models:\n"
            "  - name: payments\n    materialized: topic\n"
            f"    topic: {{ name: {self.payments}, partitions: 1 }}\n"
            "    access:\n"
            f"      read: [{{ principal: User:alice, group_prefix: {self.alice_groups} }}]\n"
            "      write: [User:bob]\n" + (refunds if with_refunds else "")
        )

    def run(self, *args: str) -> RunResult:
        return self.project.run(*args, env=self.env)


@pytest.fixture
def shop(sluice_project: Make, kafka_env: dict[str, str]) -> Iterator[Shop]:
    made = Shop(sluice_project, kafka_env)
    try:
        yield made
    finally:
        made.project.write({"stream_project.yml": made.text()})
        made.run("destroy", "--yes")


def _ok(result: RunResult) -> RunResult:
    assert result.exit_code == 0, result.output
    return result


def _produce(config: Config, topic: str, value: bytes) -> KafkaError | None:
    """The delivery error of one record (None when the broker took it)."""
    errors: list[KafkaError | None] = []
    producer = Producer({**config, "message.timeout.ms": 10000})
    producer.produce(topic, value=value, on_delivery=lambda error, _message: errors.append(error))
    producer.flush(20)
    assert errors, "the record was neither delivered nor refused"
    return errors[0]


def _consume(config: Config, topic: str, group: str) -> bytes | KafkaError:
    """The first record a consumer in ``group`` gets from ``topic``, or the error it gets."""
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                return error
            value = message.value()
            assert value is not None
            return value
    finally:
        consumer.close()
    raise AssertionError(f"nothing arrived from {topic} within 30s")


def _principal_bindings(admin: AdminClient, principal: str, name: str) -> set[str]:
    """``<type> <name> <pattern> <operation>`` of ``principal``'s bindings on names under
    ``name`` (the run's own resources)."""
    found = admin.describe_acls(
        AclBindingFilter(
            ResourceType.ANY,
            ANY,
            ResourcePatternType.ANY,
            principal,
            ANY,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(30)
    return {
        f"{b.restype.name} {b.name} {b.resource_pattern_type.name} {b.operation.name}"
        for b in found
        if b.name.startswith(name)
    }


def test_readers_consume_in_their_groups_writers_produce_and_nobody_else(
    shop: Shop, kafka_env: dict[str, str], admin: AdminClient
) -> None:
    planned = shop.run("plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert f"+ create acls {shop.payments} (kafka)" in planned.output
    assert f'    User:alice READ group {shop.alice_groups}*: (none) -> "ALLOW"' in planned.output
    assert f'    User:alice DESCRIBE topic {shop.payments}: (none) -> "ALLOW"' in planned.output
    assert f'    User:bob WRITE topic {shop.payments}: (none) -> "ALLOW"' in planned.output
    _ok(shop.run("apply"))
    assert shop.run("plan", "--detailed-exitcode").exit_code == 0
    assert _principal_bindings(admin, "User:alice", shop.name) == {
        f"TOPIC {shop.payments} LITERAL READ",
        f"TOPIC {shop.payments} LITERAL DESCRIBE",
        f"GROUP {shop.alice_groups} PREFIXED READ",
    }

    alice, bob = _as(kafka_env, "alice"), _as(kafka_env, "bob")
    # the writer produces, idempotently, with WRITE and DESCRIBE only (no IDEMPOTENT_WRITE)
    assert _produce({**bob, "enable.idempotence": True}, shop.payments, b"paid") is None
    refused = _produce(alice, shop.payments, b"forged")
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert refused.str() == "Broker: Topic authorization failed"

    # the reader, in a group under her prefix, gets the record
    assert _consume(alice, shop.payments, f"{shop.alice_groups}dashboard") == b"paid"
    # the same reader in a group outside her prefix is refused by the group coordinator
    outside = _consume(alice, shop.payments, f"{shop.name}.elsewhere")
    assert isinstance(outside, KafkaError)
    assert outside.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    assert outside.str() == "FindCoordinator response error: Group authorization failed."
    # bob may use his own groups (he reads refunds) but holds no READ on payments
    denied = _consume(bob, shop.payments, f"{shop.bob_groups}snoop")
    assert isinstance(denied, KafkaError)
    assert denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert re.fullmatch(
        r"Fetch from broker \d+ failed: Broker: Topic authorization failed", denied.str()
    )


def test_prune_removes_the_bindings_of_a_model_that_left_and_leaves_foreign_ones(
    shop: Shop, admin: AdminClient
) -> None:
    _ok(shop.run("apply"))
    foreign = AclBinding(
        ResourceType.GROUP,
        shop.bob_groups,
        ResourcePatternType.PREFIXED,
        "User:bob",
        "*",
        AclOperation.DESCRIBE,
        AclPermissionType.ALLOW,
    )
    for future in admin.create_acls([foreign]).values():
        future.result(30)
    try:
        shop.project.write({"stream_project.yml": shop.text(with_refunds=False)})
        held = shop.run("plan", "--detailed-exitcode")
        assert held.exit_code == 0, held.output  # deletes wait for --prune
        assert f"- delete acls {shop.refunds} (kafka)  # its node left the project" in held.output
        assert f'    User:bob READ group {shop.bob_groups}*: "ALLOW" -> (none)' in held.output
        assert f"User:bob WRITE topic {shop.payments}" not in held.output  # still granted

        _ok(shop.run("apply", "--prune"))
        assert _principal_bindings(admin, "User:bob", shop.name) == {
            f"TOPIC {shop.payments} LITERAL WRITE",
            f"TOPIC {shop.payments} LITERAL DESCRIBE",
            f"GROUP {shop.bob_groups} PREFIXED DESCRIBE",  # somebody else's: untouched
        }
        assert shop.run("plan", "--prune", "--detailed-exitcode").exit_code == 0
    finally:
        exactly = AclBindingFilter(
            foreign.restype,
            foreign.name,
            foreign.resource_pattern_type,
            foreign.principal,
            foreign.host,
            foreign.operation,
            foreign.permission_type,
        )
        for future in admin.delete_acls([exactly]).values():
            future.result(30)


def test_destroy_removes_every_binding_sluice_made(shop: Shop, admin: AdminClient) -> None:
    _ok(shop.run("apply"))
    destroyed = _ok(shop.run("destroy", "--yes"))
    assert f"acls {shop.payments}" in destroyed.output
    for principal in ("User:alice", "User:bob"):
        assert _principal_bindings(admin, principal, shop.name) == set()
