"""The Kafka plugin's dev services against the real thing: a KRaft broker and Apicurio Registry.

The stack starts once for the module (the first run downloads the jars through ``mvn`` into
the sluice cache; later runs reuse them) and is stopped at the end, whatever happened.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.dev import DevStack
from sluice.plugin.manager import PluginManager

pytestmark = pytest.mark.integration

confluent_kafka = pytest.importorskip("confluent_kafka")
httpx = pytest.importorskip("httpx")

from confluent_kafka import Consumer, KafkaError, Message, Producer  # noqa: E402
from confluent_kafka.admin import (  # noqa: E402
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

SR_JSON = "application/vnd.schemaregistry.v1+json"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevStack, dict[str, str]]]:
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            pytest.skip(f"the local stack needs '{tool}' on PATH")
    project = tmp_path_factory.mktemp("project")
    dev = DevStack(project, PluginManager().dev_services(), echo=lambda line: None)
    try:
        env = dev.up(["kafka", "schema-registry"])
        yield dev, env
    finally:
        dev.down()
        assert all(state.state != "running" for state in dev.status())


@pytest.fixture(scope="module")
def env(stack: tuple[DevStack, dict[str, str]]) -> dict[str, str]:
    return stack[1]


Config = dict[str, str | int | float | bool]


def _sasl(env: dict[str, str], user: str) -> Config:
    return {
        "bootstrap.servers": env["KAFKA_SASL_BOOTSTRAP"],
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
    }


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _first_message(consumer: Consumer, timeout: float = 30.0) -> Message:
    """The first message or error event ``poll`` hands out within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None:
            return message
    raise AssertionError(f"nothing arrived within {timeout:g}s")


def test_env_names_both_listeners(stack: tuple[DevStack, dict[str, str]]) -> None:
    dev, env = stack
    assert env["KAFKA_BOOTSTRAP"].startswith("localhost:")
    assert env["KAFKA_SASL_BOOTSTRAP"].startswith("localhost:")
    assert env["KAFKA_BOOTSTRAP"] != env["KAFKA_SASL_BOOTSTRAP"]
    written = dev.env_path.read_text(encoding="utf-8")
    assert f"export KAFKA_BOOTSTRAP={env['KAFKA_BOOTSTRAP']}" in written
    assert f"export SR_URL={env['SR_URL']}" in written


def test_produce_and_consume_on_plaintext(env: dict[str, str]) -> None:
    topic = _name("plain")
    plain: Config = {"bootstrap.servers": env["KAFKA_BOOTSTRAP"]}
    producer = Producer(plain)
    producer.produce(topic, key=b"k1", value=b"hello")  # auto-created on first use
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": env["KAFKA_BOOTSTRAP"],
            "group.id": _name("group"),
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([topic])
        message = _first_message(consumer)
        assert message.error() is None, message.error()
        assert (message.key(), message.value()) == (b"k1", b"hello")
    finally:
        consumer.close()


def test_acls_are_enforced_on_the_sasl_listener(env: dict[str, str]) -> None:
    topic, group = _name("secured"), _name("readers")
    admin = AdminClient(_sasl(env, "admin"))
    for future in admin.create_topics([NewTopic(topic, 1, 1)], request_timeout=30).values():
        future.result()
    producer = Producer(_sasl(env, "admin"))
    producer.produce(topic, value=b"secret")
    assert producer.flush(30) == 0

    # alice may use the group but holds no ACL on the topic: the broker refuses her
    grants = [
        AclBinding(
            ResourceType.GROUP,
            group,
            ResourcePatternType.LITERAL,
            f"User:{user}",
            "*",
            AclOperation.READ,
            AclPermissionType.ALLOW,
        )
        for user in ("alice", "bob")
    ]
    grants.append(
        AclBinding(
            ResourceType.TOPIC,
            topic,
            ResourcePatternType.LITERAL,
            "User:bob",
            "*",
            AclOperation.READ,
            AclPermissionType.ALLOW,
        )
    )
    for future in admin.create_acls(grants, request_timeout=30).values():
        future.result()

    metadata = AdminClient(_sasl(env, "alice")).list_topics(topic=topic, timeout=10)
    error = metadata.topics[topic].error
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    alice = Consumer({**_sasl(env, "alice"), "group.id": group, "auto.offset.reset": "earliest"})
    try:
        alice.subscribe([topic])
        refusal = _first_message(alice).error()
        assert refusal is not None and refusal.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        alice.close()

    # bob, granted READ on the topic, gets the record
    bob = Consumer({**_sasl(env, "bob"), "group.id": group, "auto.offset.reset": "earliest"})
    try:
        bob.subscribe([topic])
        message = _first_message(bob)
        assert message.error() is None, message.error()
        assert message.value() == b"secret"
    finally:
        bob.close()

    # PLAINTEXT clients are User:ANONYMOUS, a super user: everyday use needs no ACL
    anonymous = Consumer(
        {
            "bootstrap.servers": env["KAFKA_BOOTSTRAP"],
            "group.id": _name("anyone"),
            "auto.offset.reset": "earliest",
        }
    )
    try:
        anonymous.subscribe([topic])
        message = _first_message(anonymous)
        assert message.error() is None, message.error()
        assert message.value() == b"secret"
    finally:
        anonymous.close()


def test_registry_registers_and_returns_schemas(env: dict[str, str]) -> None:
    base = env["SR_URL"]
    avro = {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"}],
    }
    json_schema = {"type": "object", "properties": {"id": {"type": "string"}}}
    with httpx.Client(base_url=base, headers={"Content-Type": SR_JSON}, timeout=30) as client:
        for subject, body in (
            (_name("orders-value"), {"schema": json.dumps(avro)}),
            (_name("events-value"), {"schema": json.dumps(json_schema), "schemaType": "JSON"}),
        ):
            registered = client.post(f"/subjects/{subject}/versions", json=body)
            assert registered.status_code == 200, registered.text
            schema_id = registered.json()["id"]

            latest = client.get(f"/subjects/{subject}/versions/latest")
            assert latest.status_code == 200, latest.text
            assert latest.json()["id"] == schema_id
            assert latest.json()["version"] == 1
            assert json.loads(latest.json()["schema"]) == json.loads(body["schema"])

            by_id = client.get(f"/schemas/ids/{schema_id}")
            assert by_id.status_code == 200, by_id.text
            assert json.loads(by_id.json()["schema"]) == json.loads(body["schema"])
            assert subject in client.get("/subjects").json()


def test_second_up_reuses_what_runs(stack: tuple[DevStack, dict[str, str]]) -> None:
    dev, env = stack
    began = time.monotonic()
    assert dev.up(["kafka", "schema-registry"]) == env
    assert time.monotonic() - began < 10
    assert {s.name: s.state for s in dev.status()}["kafka"] == "running"


def test_services_keep_their_files_in_the_service_dir(
    stack: tuple[DevStack, dict[str, str]],
) -> None:
    dev, _ = stack
    kafka = dev.service_dir("kafka")
    assert (kafka / "server.properties").is_file()
    assert (kafka / "data" / "meta.properties").is_file()
    # the jars are links into the cache outside the project, not copies
    jars = list((kafka / "lib").glob("*.jar"))
    assert jars and all(jar.is_symlink() for jar in jars)
    assert not Path(jars[0].resolve()).is_relative_to(dev.project_dir)
