"""sluice-kafka against a real broker: plan, apply, prune, lock, ACLs and status via the CLI.

One KRaft broker (the plugin's ``kafka`` dev service) serves the whole module; every test
uses its own project name and topic names, so tests do not see each other's resources.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sluice.testing import RunResult, SluiceProject, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("jobs_stub_installed")]

confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (  # noqa: E402
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from sluice_kafka.client import ANY  # noqa: E402
from sluice_kafka.state import STATE_TOPIC, new_holder  # noqa: E402

Make = Callable[[Mapping[str, str]], SluiceProject]


@pytest.fixture(scope="module")
def kafka_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka"]) as env:
        yield env


@pytest.fixture(scope="module")
def admin(kafka_env: dict[str, str]) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_env["KAFKA_BOOTSTRAP"]})


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class Story:
    """One project of a test: its name, its topic names and a way to run the CLI on it."""

    def __init__(self, make: Make, env: dict[str, str], sasl: bool = False) -> None:
        self.name = _unique("shop-")
        self.env = {**env, "KAFKA_SASL_PASSWORD": "admin-secret"}
        self.sasl = sasl
        self.project: SluiceProject | None = None
        self.make = make

    def topic(self, stem: str) -> str:
        return f"{self.name}.{stem}"

    def write(self, models: str, sources: str = "", exposures: str = "") -> SluiceProject:
        kafka = (
            '{ bootstrap_servers: "${KAFKA_SASL_BOOTSTRAP}", security_protocol: SASL_PLAINTEXT, '
            'sasl_mechanism: PLAIN, sasl_username: admin, sasl_password: "${KAFKA_SASL_PASSWORD}" }'
            if self.sasl
            else '{ bootstrap_servers: "${KAFKA_BOOTSTRAP}" }'
        )
        text = (
            f'project: {{ name: {self.name}, version: "1.0.0" }}\n'
            f"runtime:\n  kafka: {kafka}\n  jobs_stub: {{}}\n"
            f"sources:\n  - name: orders\n    topic: {self.topic('orders')}\n"
            "    columns: [{ name: id, type: STRING }, { name: amount, type: INT }]\n"
            f"{sources}models:\n{models}{exposures}"
        )
        if self.project is None:
            self.project = self.make({"stream_project.yml": text})
        else:
            self.project.write({"stream_project.yml": text})
        return self.project

    def run(self, *args: str) -> RunResult:
        assert self.project is not None
        return self.project.run(*args, env=self.env)


def model(name: str, topic: str, settings: str = "", access: str = "") -> str:
    text = (
        f"  - name: {name}\n    materialized: topic\n"
        f'    sql: SELECT id, amount FROM {{{{ source("orders") }}}} WHERE amount > 1\n'
        f"    topic: {{ name: {topic}{', ' + settings if settings else ''} }}\n"
    )
    return text + (f"    access: {access}\n" if access else "")


@pytest.fixture
def story(sluice_project: Make, kafka_env: dict[str, str], admin: AdminClient) -> Story:
    made = Story(sluice_project, kafka_env)
    _create_topics(admin, [made.topic("orders")])  # the source every story reads
    return made


def _create_topics(admin: AdminClient, names: list[str], partitions: int = 1) -> None:
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(30)


def _describe(admin: AdminClient, topic: str) -> tuple[int, dict[str, str]]:
    metadata = admin.list_topics(topic=topic, timeout=10).topics[topic]
    assert metadata.error is None, metadata.error
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(30)
    return len(metadata.partitions), {k: e.value for k, e in entries.items()}


def _exists(admin: AdminClient, topic: str) -> bool:
    deadline = time.monotonic() + 10
    while True:  # deletion is asynchronous: give the metadata a moment to catch up
        present = topic in admin.list_topics(timeout=10).topics
        if not present or time.monotonic() > deadline:
            return present
        time.sleep(0.3)


def _ok(result: RunResult) -> RunResult:
    assert result.exit_code == 0, result.output
    return result


# -- topics -----------------------------------------------------------------------------------


def test_apply_creates_topics_exactly_and_a_second_plan_has_nothing(
    story: Story, admin: AdminClient
) -> None:
    count = 10
    models = "".join(
        model(f"m{i}", story.topic(f"t{i}"), 'partitions: 3, config: { retention.ms: "3600000" }')
        for i in range(count)
    )
    story.write(models)
    planned = story.run("plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert f"Plan: {count} to create" in planned.output
    assert 'config.retention.ms: (none) -> "3600000"' in planned.output

    began = time.monotonic()
    applied = _ok(story.run("apply"))
    seconds = time.monotonic() - began
    assert f"apply: {count} success" in applied.output
    print(f"\napply of {count} topics took {seconds:.2f}s (CLI in-process, incl. probe)")
    for i in range(count):
        partitions, config = _describe(admin, story.topic(f"t{i}"))
        assert partitions == 3
        assert config["retention.ms"] == "3600000"
        assert config["cleanup.policy"] == "delete"  # the broker's default, untouched

    again = story.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output
    assert "No changes" in _ok(story.run("apply")).output


def test_raising_partitions_and_retention_is_a_per_field_diff_applied_in_place(
    story: Story, admin: AdminClient
) -> None:
    topic = story.topic("big")
    story.write(model("big", topic, 'partitions: 2, config: { retention.ms: "3600000" }'))
    _ok(story.run("apply"))

    story.write(model("big", topic, 'partitions: 4, config: { retention.ms: "7200000" }'))
    planned = story.run("plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert f"~ update topic {topic} (kafka)" in planned.output
    assert "    partitions: 2 -> 4" in planned.output
    assert '    config.retention.ms: "3600000" -> "7200000"' in planned.output
    assert "replication_factor" not in planned.output  # undeclared: never compared

    _ok(story.run("apply"))
    partitions, config = _describe(admin, topic)
    assert (partitions, config["retention.ms"]) == (4, "7200000")
    assert story.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_config_key_removed_from_the_project_returns_to_the_broker_default(
    story: Story, admin: AdminClient
) -> None:
    topic = story.topic("ret")
    story.write(model("ret", topic, 'config: { retention.ms: "3600000" }'))
    _ok(story.run("apply"))
    story.write(model("ret", topic))
    planned = story.run("plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert '    config.retention.ms: "3600000" -> (none)' in planned.output
    _ok(story.run("apply"))
    assert _describe(admin, topic)[1]["retention.ms"] == "604800000"  # the broker's default
    assert story.run("plan", "--detailed-exitcode").exit_code == 0


def test_lowering_partitions_is_a_plan_error_that_says_what_to_do(
    story: Story, admin: AdminClient
) -> None:
    topic = story.topic("shrink")
    story.write(model("shrink", topic, "partitions: 12"))
    _ok(story.run("apply"))
    story.write(model("shrink", topic, "partitions: 6"))

    refused = story.run("plan")
    assert refused.exit_code == 1
    assert (
        f"topic '{topic}' (model 'shrink'): partitions cannot decrease from 12 to 6"
        in refused.output
    )
    assert (
        "hint: create a new topic (rename the model's topic) or pass --allow-recreate to "
        "delete and recreate it (data is lost)" in refused.output
    )
    assert story.run("apply").exit_code == 1
    assert _describe(admin, topic)[0] == 12  # nothing was touched

    recreate = _ok(story.run("plan", "--allow-recreate"))
    assert f"-/+ replace topic {topic} (kafka)" in recreate.output
    assert "    partitions: 12 -> 6" in recreate.output
    _ok(story.run("apply", "--allow-recreate"))
    assert _describe(admin, topic)[0] == 6


def test_a_removed_model_is_held_back_until_prune_and_foreign_topics_are_never_touched(
    story: Story, admin: AdminClient
) -> None:
    keep, gone, foreign = story.topic("keep"), story.topic("gone"), story.topic("foreign")
    _create_topics(admin, [foreign])
    story.write(model("keep", keep) + model("gone", gone))
    _ok(story.run("apply"))

    story.write(model("keep", keep))
    planned = story.run("plan", "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output  # held back: nothing apply would do
    assert f"- delete topic {gone} (kafka)" in planned.output
    assert "(left the project; pass --prune to delete)" in planned.output
    assert foreign not in planned.output
    _ok(story.run("apply"))
    assert _exists(admin, gone)

    pruned = _ok(story.run("apply", "--prune"))
    assert f"delete  topic {gone}" in pruned.output
    assert not _exists(admin, gone)
    assert _exists(admin, foreign) and _exists(admin, keep)
    assert story.run("plan", "--prune", "--detailed-exitcode").exit_code == 0


def test_a_missing_source_topic_is_a_plan_error_naming_the_source(
    story: Story, admin: AdminClient
) -> None:
    absent = story.topic("absent")
    extra = (
        f"  - name: payments\n    topic: {absent}\n    columns: [{{ name: id, type: STRING }}]\n"
    )
    story.write(model("big", story.topic("big")), sources=extra)
    refused = story.run("plan")
    assert refused.exit_code == 1
    assert f"source 'payments' reads topic '{absent}', which does not exist" in refused.output
    assert "stream_project.yml" in refused.output
    assert not _exists(admin, absent)  # a source's topic is never created


# -- state and lock ---------------------------------------------------------------------------


def _state_records(env: dict[str, str]) -> dict[str, Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": env["KAFKA_BOOTSTRAP"],
            "group.id": _unique("state-check-"),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    found: dict[str, Any] = {}
    try:
        consumer.assign([TopicPartition(STATE_TOPIC, 0, OFFSET_BEGINNING)])
        while True:
            message = consumer.poll(10)
            assert message is not None, "the state topic did not answer"
            if message.error():
                break  # end of the partition
            value = message.value()
            found[(message.key() or b"").decode()] = json.loads(value) if value else None
    finally:
        consumer.close()
    return found


def test_the_state_topic_records_each_managed_resource(
    story: Story, admin: AdminClient, kafka_env: dict[str, str]
) -> None:
    topic = story.topic("recorded")
    story.write(model("recorded", topic, "partitions: 2"))
    _ok(story.run("apply"))

    config = _describe(admin, STATE_TOPIC)[1]
    assert config["cleanup.policy"] == "compact"
    record = _state_records(kafka_env)[f"{story.name}/default/topic/{topic}"]
    assert record["kind"] == "topic" and record["id"] == topic
    assert record["project"] == story.name and record["environment"] == "default"
    assert record["applied_version"] == "1.0.0"
    assert len(record["spec_hash"]) == 16 and record["applied_at"]
    assert record["spec"]["partitions"] == 2


def test_a_second_apply_while_one_holds_the_lock_fails_naming_the_holder(
    story: Story, admin: AdminClient, kafka_env: dict[str, str]
) -> None:
    topic = story.topic("locked")
    story.write(model("locked", topic))
    _ok(story.run("apply"))  # the state topic exists from here on

    other = replace(new_holder(), host="build-7", pid=4242)
    producer = Producer({"bootstrap.servers": kafka_env["KAFKA_BOOTSTRAP"]})
    producer.produce(
        STATE_TOPIC,
        key=f"{story.name}/default/__lock__".encode(),
        value=json.dumps(other.to_json()),
    )
    assert producer.flush(10) == 0

    story.write(model("locked", topic, "partitions: 3"))
    refused = story.run("apply")
    assert refused.exit_code == 1
    assert (
        f"another apply holds the lock of {story.name}/default: host build-7, pid 4242, since"
        in refused.output
    )
    assert "expires at" in refused.output
    assert _describe(admin, topic)[0] == 1  # nothing applied

    # the holder is done: its release frees the lock, and the next apply goes through
    producer.produce(
        STATE_TOPIC,
        key=f"{story.name}/default/__lock__".encode(),
        value=json.dumps({"release": other.run_id}),
    )
    assert producer.flush(10) == 0
    _ok(story.run("apply"))
    assert _describe(admin, topic)[0] == 3


# -- ACLs -------------------------------------------------------------------------------------


def _topic_acls(admin: AdminClient, topic: str) -> set[tuple[str, str]]:
    found = admin.describe_acls(
        AclBindingFilter(
            ResourceType.TOPIC,
            topic,
            ResourcePatternType.LITERAL,
            ANY,
            ANY,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result(30)
    return {(b.principal, b.operation.name) for b in found}


def test_acl_bindings_follow_access_read_and_foreign_bindings_stay(
    sluice_project: Make, kafka_env: dict[str, str]
) -> None:
    story = Story(sluice_project, kafka_env, sasl=True)
    sasl = AdminClient(
        {
            "bootstrap.servers": kafka_env["KAFKA_SASL_BOOTSTRAP"],
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "admin",
            "sasl.password": "admin-secret",
        }
    )
    _create_topics(sasl, [story.topic("orders")])
    topic = story.topic("secured")
    story.write(model("secured", topic, access='{ read: ["User:alice"] }'))
    planned = story.run("plan", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert f"+ create acls {topic} (kafka)" in planned.output
    assert f'    User:alice READ topic {topic}: (none) -> "ALLOW"' in planned.output
    assert '    User:alice READ group alice.*: (none) -> "ALLOW"' in planned.output
    # access: is declared, so sluice's own principal (admin) gets what the model's job needs
    assert f'    User:admin WRITE topic {topic}: (none) -> "ALLOW"' in planned.output
    assert "admin-secret" not in planned.output

    _ok(story.run("apply"))
    assert _topic_acls(sasl, topic) == {
        ("User:alice", "READ"),
        ("User:alice", "DESCRIBE"),
        ("User:admin", "WRITE"),
        ("User:admin", "DESCRIBE"),
    }
    assert story.run("plan", "--detailed-exitcode").exit_code == 0

    # somebody grants bob by hand: sluice leaves that binding alone
    bob = AclBinding(
        ResourceType.TOPIC,
        topic,
        ResourcePatternType.LITERAL,
        "User:bob",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    for future in sasl.create_acls([bob]).values():
        future.result(30)

    story.write(model("secured", topic))  # alice's access is withdrawn
    revoked = story.run("plan", "--detailed-exitcode")
    assert revoked.exit_code == 2, revoked.output
    assert f'    User:alice READ topic {topic}: "ALLOW" -> (none)' in revoked.output
    # no access: left anywhere: the bindings of sluice's own principal go too
    assert f'    User:admin WRITE topic {topic}: "ALLOW" -> (none)' in revoked.output
    assert "User:bob" not in revoked.output
    _ok(story.run("apply"))
    assert _topic_acls(sasl, topic) == {("User:bob", "READ")}
    assert story.run("plan", "--detailed-exitcode").exit_code == 0


# -- status and lineage -----------------------------------------------------------------------


def test_status_shows_topics_and_the_lag_of_an_exposures_group(
    story: Story, kafka_env: dict[str, str]
) -> None:
    topic, group = story.topic("watched"), _unique("dashboard-")
    exposures = (
        "exposures:\n  - name: board\n    type: dashboard\n"
        f'    consumer_group: {group}\n    depends_on: [ref("watched")]\n'
    )
    story.write(model("watched", topic, "partitions: 2"), exposures=exposures)
    _ok(story.run("apply"))

    producer = Producer({"bootstrap.servers": kafka_env["KAFKA_BOOTSTRAP"]})
    for _ in range(5):
        producer.produce(topic, value=b"x", partition=0)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": kafka_env["KAFKA_BOOTSTRAP"], "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    consumer.close()

    shown = _ok(story.run("status", "--output", "json")).json()
    by_resource = {item["resource"]: item for item in shown}
    watched = by_resource[f"topic:{topic}"]
    assert watched["state"] == "EXISTS" and watched["node"] == "model.watched"
    assert watched["detail"]["partitions"] == 2 and watched["detail"]["drift"] == []
    assert by_resource[f"topic:{story.topic('orders')}"]["state"] == "EXISTS"
    lag = by_resource[f"group:{group}"]
    assert lag["node"] == "exposure.board"
    assert lag["detail"] == {"lag": 3, "topics": {topic: 3}}

    text = _ok(story.run("status")).output
    assert f"group:{group}" in text and "lag=3" in text


def test_runtime_lineage_names_which_groups_read_which_topics(
    story: Story, kafka_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sluice.runtime import RunContext
    from sluice.session import Session

    topic, group = story.topic("read"), _unique("reader-")
    project = story.write(model("read", topic))
    _ok(story.run("apply"))
    consumer = Consumer({"bootstrap.servers": kafka_env["KAFKA_BOOTSTRAP"], "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    consumer.close()

    for name, value in story.env.items():
        monkeypatch.setenv(name, value)
    session = Session(Path(project.path), probe=True)
    context = RunContext(
        session.project, session.manifest, session.capabilities, frozenset(session.manifest.nodes)
    )
    edges = session.manager.lineage(session.manifest, context)
    consumes = [e for e in edges if e.kind == "consumes" and e.detail["consumer_group"] == group]
    assert [(e.source, e.target) for e in consumes] == [("model.read", f"consumer_group:{group}")]
    assert session.manager.lineage(session.manifest, None)  # offline: the static edges only
    assert all(e.kind != "consumes" for e in session.manager.lineage(session.manifest, None))


def test_the_probe_names_the_cluster_and_finds_acls_enabled(story: Story) -> None:
    story.write(model("probed", story.topic("probed")))
    shown = _ok(story.run("plugins")).output
    assert "kafka: 1 broker(s), cluster id " in shown
    assert "ACLs enabled" in shown
    row = next(line for line in shown.splitlines() if line.startswith("kafka "))
    assert "acls, consumer_groups, topics" in row
