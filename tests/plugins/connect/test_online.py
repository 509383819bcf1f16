"""sluice-connect online, for real: sinks from a topic into PostgreSQL through Kafka Connect.

One module-wide stack (a KRaft broker, PostgreSQL and a Connect worker with the Debezium JDBC
sink, started by the plugins' dev services; or the running stack whose ``.sluice/dev/env`` is
named by ``SLUICE_TEST_STACK_ENV``) serves every story. Each story is a real project driven
through the CLI; source topics are created here with the admin client, records go in with
confluent-kafka (JSON with schemas, as the JDBC sink needs them), and rows are read back with
psycopg. Run with ``-s`` to see how long applies take.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from sluice.testing import SluiceProject, local_stack

pytestmark = pytest.mark.integration

confluent_kafka = pytest.importorskip("confluent_kafka")
httpx = pytest.importorskip("httpx")
psycopg = pytest.importorskip("psycopg")

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

import sluice_kafka.testing as kafka_testing  # noqa: E402

ARRIVAL_TIMEOUT = 90.0
JDBC = "io.debezium.connector.jdbc.JdbcSinkConnector"

Env = dict[str, str]
MakeProject = Callable[[Mapping[str, str]], SluiceProject]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # Flink too: one story's sink reads the topic of an exactly-once job
    services = ["connect", "flink-sql-gateway"]
    with local_stack(tmp_path_factory.mktemp("stack"), services) as env:
        yield env


# -- helpers ----------------------------------------------------------------------------------


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def create_topic(env: Env, name: str) -> None:
    kafka_testing.create_topics(env["KAFKA_BOOTSTRAP"], name)


def topic_exists(env: Env, name: str) -> bool:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    found = admin.list_topics(timeout=30).topics.get(name)  # by name would auto-create it
    return found is not None and found.error is None


_SCHEMA = {
    "type": "struct",
    "name": "shop.Order",
    "optional": False,
    "fields": [
        {"field": "id", "type": "int32", "optional": False},
        {"field": "name", "type": "string", "optional": False},
        {"field": "amount", "type": "double", "optional": False},
    ],
}


def record(id_: int, name: str, amount: float) -> bytes:
    payload = {"id": id_, "name": name, "amount": amount}
    return json.dumps({"schema": _SCHEMA, "payload": payload}).encode()


def produce(env: Env, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0


def rows(env: Env, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(env["PG_DSN"]) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
        if found is None or found[0] is None:
            return []
        query = f'SELECT id, name, amount FROM "{table}" ORDER BY id, name, amount'
        return [tuple(row) for row in conn.execute(query).fetchall()]


def wait_for_rows(env: Env, table: str, expected: list[tuple[Any, ...]]) -> None:
    """Until the table holds exactly ``expected``; then a moment more, to catch extra rows."""
    deadline = time.monotonic() + ARRIVAL_TIMEOUT
    found: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        found = rows(env, table)
        if found == expected:
            time.sleep(2)
            found = rows(env, table)
            break
        time.sleep(0.5)
    assert found == expected


def connect(env: Env, method: str, path: str) -> Any:
    response = httpx.request(method, env["CONNECT_REST_URL"] + path, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def connector_names(env: Env) -> set[str]:
    return set(connect(env, "GET", "/connectors"))


def run(project: SluiceProject, env: Env, *args: str, code: int = 0) -> str:
    result = project.run(*args, env=env)
    assert result.exit_code == code, result.output
    return result.output


def sink(
    name: str,
    table: str,
    *,
    key: bool = True,
    dlq: str | None = None,
    extra: str = "",
    klass: str = "jdbc",
) -> str:
    return f"""
  - name: {name}
    from: orders
{"    key: [id]" if key else ""}
{f"    dlq: {dlq}" if dlq else ""}
    connector:
      class: {klass}
      config:
        connection.url: ${{PG_JDBC_URL}}
        connection.username: ${{PG_USER}}
        connection.password: ${{PG_PASSWORD}}
        value.converter.schemas.enable: "true"
        schema.evolution: basic
        table.name.format: {table}
{extra}"""


def project_files(name: str, topic: str, models: str) -> dict[str, str]:
    yaml = f"""
project: {{ name: {name} }}
defaults:
  topic: {{ partitions: 1, replication_factor: 1 }}
runtime:
  kafka: {{ bootstrap_servers: "${{KAFKA_BOOTSTRAP}}" }}
  connect: {{ rest_url: "${{CONNECT_REST_URL}}" }}
sources:
  - name: orders
    topic: {topic}
    columns:
      - {{ name: id, type: INT }}
      - {{ name: name, type: STRING }}
      - {{ name: amount, type: DOUBLE }}
models:
{models}"""
    return {"stream_project.yml": yaml}


def cleanup(env: Env, project: str) -> None:
    for name in connector_names(env):
        if name.startswith(f"{project}-"):
            httpx.delete(f"{env['CONNECT_REST_URL']}/connectors/{name}", timeout=30)


# -- stories ----------------------------------------------------------------------------------


def test_records_arrive_as_rows_and_a_config_change_is_applied_in_place(
    env: Env, sluice_project: MakeProject
) -> None:
    name, topic = _unique("shop"), _unique("orders")
    upserts, inserts = _unique("upserts"), _unique("inserts")
    token = f"tok-{uuid.uuid4().hex}"
    create_topic(env, topic)
    models = sink("by_key", upserts, extra="        audit.api.token: ${SHOP_API_TOKEN}\n")
    models += sink("all_rows", inserts, key=False)
    project = sluice_project(project_files(name, topic, models))
    run_env = env | {"SHOP_API_TOKEN": token}
    try:
        plan = run(project, run_env, "plan")
        assert f"+ create connector {name}-by_key (connect)" in plan
        assert 'audit.api.token: (none) -> "${SHOP_API_TOKEN}"' in plan
        began = time.monotonic()
        out = run(project, run_env, "apply")
        print(f"\n[apply] two connectors RUNNING in {time.monotonic() - began:.1f}s")
        assert f"done    connector {name}-by_key" in out
        # the secret reached the connector, and nothing sluice wrote or showed holds it
        live = connect(env, "GET", f"/connectors/{name}-by_key/config")
        assert live["audit.api.token"] == token
        assert live["sluice.project"] == name
        plan_json = run(project, run_env, "plan", "--output", "json")
        for text in (plan, out, plan_json):
            assert token not in text
        for path in (project.path / "target").rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path

        produce(env, topic, [record(1, "apple", 1.5), record(2, "pear", 2.25)])
        produce(env, topic, [record(3, "fig", 30.0), record(2, "pear", 9.75)])
        wait_for_rows(env, upserts, [(1, "apple", 1.5), (2, "pear", 9.75), (3, "fig", 30.0)])
        wait_for_rows(
            env,
            inserts,
            [(1, "apple", 1.5), (2, "pear", 2.25), (2, "pear", 9.75), (3, "fig", 30.0)],
        )
        assert "No changes" in run(project, run_env, "apply")

        # a changed variable and a new key: one update, in place, the secret shown as its name
        models = sink(
            "by_key",
            upserts,
            extra='        audit.api.token: ${SHOP_API_TOKEN}\n        batch.size: "50"\n',
        ) + sink("all_rows", inserts, key=False)
        project.write(project_files(name, topic, models))
        new_token = f"tok-{uuid.uuid4().hex}"
        run_env["SHOP_API_TOKEN"] = new_token
        plan = run(project, run_env, "plan")
        assert f"~ update connector {name}-by_key (connect)" in plan
        assert 'audit.api.token: "****" -> "${SHOP_API_TOKEN}"' in plan
        assert 'batch.size: (none) -> "50"' in plan
        assert "Plan: 0 to create, 1 to update" in plan
        assert token not in plan and new_token not in plan
        out = run(project, run_env, "apply")
        assert f"done    connector {name}-by_key" in out
        live = connect(env, "GET", f"/connectors/{name}-by_key/config")
        assert (live["batch.size"], live["audit.api.token"]) == ("50", new_token)
        produce(env, topic, [record(4, "kiwi", 4.0)])
        wait_for_rows(
            env,
            upserts,
            [(1, "apple", 1.5), (2, "pear", 9.75), (3, "fig", 30.0), (4, "kiwi", 4.0)],
        )
        status = run(project, run_env, "status")
        assert f"{name}-by_key" in status and "RUNNING" in status
    finally:
        cleanup(env, name)


def test_a_class_the_cluster_lacks_is_a_plan_error_listing_the_installed_ones(
    env: Env, sluice_project: MakeProject
) -> None:
    name, topic = _unique("shop"), _unique("orders")
    create_topic(env, topic)
    models = sink("to_db", _unique("t"), klass="com.example.NoSuchSinkConnector")
    project = sluice_project(project_files(name, topic, models))
    out = run(project, env, "plan", code=1)
    assert "class com.example.NoSuchSinkConnector is not installed" in out
    assert f"installed sink connectors: {JDBC}" in out
    assert "stream_project.yml:" in out and "Traceback" not in out
    assert f"{name}-to_db" not in connector_names(env)


def test_a_failing_task_is_reported_with_its_trace_and_restarted(
    env: Env, sluice_project: MakeProject
) -> None:
    name, topic, table = _unique("shop"), _unique("orders"), _unique("broken")
    create_topic(env, topic)
    # the table exists with a column the records cannot go into: the task fails writing
    with psycopg.connect(env["PG_DSN"]) as conn:
        conn.execute(f'CREATE TABLE "{table}" (id INT PRIMARY KEY, name INT, amount FLOAT8)')
    extra = '        flush.max.retries: "1"\n        flush.retry.delay.ms: "100"\n'
    project = sluice_project(project_files(name, topic, sink("to_db", table, extra=extra)))
    try:
        run(project, env, "apply")
        produce(env, topic, [record(1, "apple", 1.5), record(2, "pear", 2.5)])
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        state = ""
        while time.monotonic() < deadline and "FAILED" not in state:
            state = run(project, env, "status", "--output", "json")
            time.sleep(1)
        items = json.loads(state)
        item = next(i for i in items if i["resource"] == f"{name}-to_db")
        assert item["state"] == "DEGRADED", item
        assert item["detail"]["tasks"] == "0:FAILED"
        assert "task 0:" in item["detail"]["error"]
        assert "Exception" in item["detail"]["trace"]
        text = run(project, env, "status")
        assert "DEGRADED" in text and "error=task 0:" in text

        # nothing changed in the project: plain apply leaves the failed task alone
        assert "No changes" in run(project, env, "apply")
        with psycopg.connect(env["PG_DSN"]) as conn:
            conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN name TYPE TEXT')
        plan = run(project, env, "plan", "--output", "json")
        assert json.loads(plan)["summary"]["update"] == 0
        out = run(project, env, "apply", "--restart-failed")
        assert f"done    connector {name}-to_db" in out
        wait_for_rows(env, table, [(1, "apple", 1.5), (2, "pear", 2.5)])
        tasks = connect(env, "GET", f"/connectors/{name}-to_db/status")["tasks"]
        assert [t["state"] for t in tasks] == ["RUNNING"]
    finally:
        cleanup(env, name)


def test_prune_removes_an_orphaned_connector_and_nothing_it_does_not_own(
    env: Env, sluice_project: MakeProject
) -> None:
    name, topic = _unique("shop"), _unique("orders")
    create_topic(env, topic)
    keep, drop = _unique("keep"), _unique("drop")
    project = sluice_project(
        project_files(name, topic, sink("keeper", keep) + sink("leaver", drop))
    )
    # a connector with the project's prefix that sluice did not create
    foreign = f"{name}-handmade"
    config = {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "topics": topic,
        "file": "/dev/null",
    }
    httpx.put(f"{env['CONNECT_REST_URL']}/connectors/{foreign}/config", json=config, timeout=30)
    try:
        run(project, env, "apply")
        assert {f"{name}-keeper", f"{name}-leaver"} <= connector_names(env)
        project.write(project_files(name, topic, sink("keeper", keep)))
        plan = run(project, env, "plan")
        assert f"- delete connector {name}-leaver (connect)" in plan
        assert "pass --prune to delete" in plan
        assert foreign not in plan
        assert "No changes" in run(project, env, "apply")
        assert f"{name}-leaver" in connector_names(env)
        out = run(project, env, "apply", "--prune")
        assert f"done    connector {name}-leaver" in out
        names = connector_names(env)
        assert f"{name}-leaver" not in names
        assert {f"{name}-keeper", foreign} <= names
    finally:
        cleanup(env, name)


def test_a_poison_record_goes_to_the_dead_letter_topic_sluice_created(
    env: Env, sluice_project: MakeProject
) -> None:
    name, topic, table = _unique("shop"), _unique("orders"), _unique("good")
    dlq = f"{topic}.dlq"
    create_topic(env, topic)
    project = sluice_project(project_files(name, topic, sink("to_db", table, dlq=dlq)))
    try:
        plan = run(project, env, "plan")
        assert f'(dead letter topic): (none) -> "{dlq}"' in plan
        out = run(project, env, "apply")
        assert (
            f"dead letter topic {dlq} created"
            in (project.path / "target" / "run_results.json").read_text()
        )
        assert "done    connector" in out
        assert topic_exists(env, dlq)
        produce(env, topic, [record(1, "apple", 1.5), b"{not json", record(2, "pear", 2.5)])
        wait_for_rows(env, table, [(1, "apple", 1.5), (2, "pear", 2.5)])
        consumer = Consumer(
            {
                "bootstrap.servers": env["KAFKA_BOOTSTRAP"],
                "group.id": _unique("dlq-reader"),
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([dlq])
        dead: list[Any] = []
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        while time.monotonic() < deadline and not dead:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                dead.append(message)
        consumer.close()
        assert [m.value() for m in dead] == [b"{not json"]
        headers = dict(dead[0].headers() or [])
        exception = headers["__connect.errors.exception.class.name"]
        assert isinstance(exception, bytes) and b"DataException" in exception
        tasks = connect(env, "GET", f"/connectors/{name}-to_db/status")["tasks"]
        assert [t["state"] for t in tasks] == ["RUNNING"]

        # the model leaves: prune deletes the connector and the topic sluice created for it
        project.write(project_files(name, topic, ""))
        out = run(project, env, "apply", "--prune")
        assert f"done    connector {name}-to_db" in out
        assert not topic_exists(env, dlq)
    finally:
        cleanup(env, name)


def test_a_sink_of_an_exactly_once_job_never_delivers_an_aborted_record(
    env: Env, sluice_project: MakeProject
) -> None:
    name, source, output = _unique("shop"), _unique("orders"), _unique("exact")
    table = _unique("exact_rows")
    create_topic(env, source)
    models = f"""
  - name: exact
    materialized: topic
    topic: {{ name: {output} }}
    sql: SELECT id, name, amount FROM {{{{ source("orders") }}}}
    flink: {{ delivery: exactly-once }}
  - name: exact_rows
    from: exact
    connector:
      class: jdbc
      config:
        connection.url: ${{PG_JDBC_URL}}
        connection.username: ${{PG_USER}}
        connection.password: ${{PG_PASSWORD}}
        schema.evolution: basic
        table.name.format: {table}
"""
    files = project_files(name, source, models)
    files["stream_project.yml"] = files["stream_project.yml"].replace(
        "runtime:\n",
        "runtime:\n  flink:\n    rest_url: ${FLINK_REST_URL}\n"
        "    sql_gateway_url: ${FLINK_SQL_GATEWAY_URL}\n",
    )
    project = sluice_project(files)
    try:
        run(project, env, "apply")
        live = connect(env, "GET", f"/connectors/{name}-exact_rows/config")
        assert live["consumer.override.isolation.level"] == "read_committed"

        # a transaction that is aborted, ahead of everything the job commits
        rogue = Producer(
            {"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "transactional.id": _unique("rogue")}
        )
        rogue.init_transactions(30)
        rogue.begin_transaction()
        rogue.produce(output, json.dumps({"id": 99, "name": "aborted", "amount": 0.0}).encode())
        rogue.flush(30)
        rogue.abort_transaction(30)

        plain = [
            {"id": 1, "name": "apple", "amount": 1.5},
            {"id": 2, "name": "pear", "amount": 2.0},
        ]
        produce(env, source, [json.dumps(r).encode() for r in plain])
        wait_for_rows(env, table, [(1, "apple", 1.5), (2, "pear", 2.0)])
    finally:
        project.run("destroy", "--yes", env=env)
        cleanup(env, name)
