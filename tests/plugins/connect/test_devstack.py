"""The Connect plugin's dev services for real: PostgreSQL and a Kafka Connect worker.

``up(["connect"])`` also starts what the worker needs: ``kafka`` (plugin sluice-kafka) and
``postgres``. The first run fetches the jars through ``mvn`` into the sluice cache (and installs
PostgreSQL through apt when it is missing); later runs reuse them. The end-to-end test talks to
the Connect REST API directly: JSON records with schemas go into a topic, a Debezium JDBC sink
writes them to PostgreSQL. The last test checks that ``down`` leaves no process behind; run
with ``-s`` to see the start time and the memory of each service.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sluice.dev import DevStack
from sluice.plugin.manager import PluginManager
from sluice_connect import devstack

pytestmark = pytest.mark.integration

httpx = pytest.importorskip("httpx")
psycopg = pytest.importorskip("psycopg")
confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import Producer  # noqa: E402

SINK_TIMEOUT = 90.0


@dataclass
class Stack:
    dev: DevStack
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    postgres_children: list[int] = field(default_factory=list)


def _proc_status(pid: int, key: str) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _proc_status(int(entry.name), "PPid") == pid:
            found.append(int(entry.name))
    return found


def _rss_mib(pid: int) -> float:
    """RSS of ``pid`` and its children (postgres forks one process per task)."""
    return sum(_proc_status(p, "VmRSS") for p in [pid, *_children(pid)]) / 1024


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if text in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            pytest.skip(f"the local stack needs '{tool}' on PATH")
    project = tmp_path_factory.mktemp("connect-project")
    dev = DevStack(
        project, PluginManager().dev_services(), echo=lambda line: print(f"[dev] {line}")
    )
    began = time.monotonic()
    try:
        env = dev.up(["connect"])
        print(f"\n[dev] kafka + postgres + connect up in {time.monotonic() - began:.1f}s")
        result = Stack(dev, env)
        for state in dev.status():
            if state.pid is not None and state.state == "running":
                result.pids[state.name] = state.pid
                print(f"[dev] {state.name}: pid {state.pid}, RSS {_rss_mib(state.pid):.0f} MiB")
        result.postgres_children = _children(result.pids["postgres"])
        yield result
    finally:
        dev.down()


def _rest(env: dict[str, str]) -> Any:
    return httpx.Client(base_url=env["CONNECT_REST_URL"], timeout=30)


def test_only_what_connect_needs_is_started(stack: Stack) -> None:
    assert set(stack.pids) == {"kafka", "postgres", "connect"}


def test_env_names_connect_and_postgres(stack: Stack) -> None:
    env = stack.env
    port = env["PG_JDBC_URL"].rsplit(":", 1)[1].split("/")[0]
    assert env["PG_DSN"] == f"postgresql://sluice:sluice-dev-password@127.0.0.1:{port}/sluice"
    assert env["PG_JDBC_URL"] == f"jdbc:postgresql://127.0.0.1:{port}/sluice"
    assert (env["PG_USER"], env["PG_PASSWORD"]) == ("sluice", "sluice-dev-password")
    assert env["CONNECT_REST_URL"].startswith("http://127.0.0.1:")
    written = stack.dev.env_path.read_text(encoding="utf-8")
    assert f"export CONNECT_REST_URL={env['CONNECT_REST_URL']}" in written
    assert f"export PG_DSN={env['PG_DSN']}" in written


def test_postgres_data_lives_in_the_project(stack: Stack) -> None:
    data = stack.dev.service_dir("postgres") / "data"
    assert (data / "PG_VERSION").is_file()
    with psycopg.connect(stack.env["PG_DSN"]) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    assert row == ("sluice", "sluice")
    # the superuser logs in over the Unix socket in the service directory, without a password
    port = stack.env["PG_JDBC_URL"].rsplit(":", 1)[1].split("/")[0]
    socket = stack.dev.service_dir("postgres") / "run"
    with psycopg.connect(host=str(socket), port=port, user="postgres", dbname="sluice") as conn:
        row = conn.execute("SELECT current_user, current_setting('data_directory')").fetchone()
    assert row == ("postgres", str(data))


def test_jdbc_sink_plugin_is_listed(stack: Stack) -> None:
    with _rest(stack.env) as rest:
        plugins = rest.get("/connector-plugins").json()
    by_class = {plugin["class"]: plugin for plugin in plugins}
    assert by_class[devstack.JDBC_SINK_CLASS]["type"] == "sink"
    assert by_class[devstack.JDBC_SINK_CLASS]["version"] == devstack.DEBEZIUM_VERSION
    # the worker's own classpath brings the FileStream connectors (connect-file)
    assert "org.apache.kafka.connect.file.FileStreamSinkConnector" in by_class


def _record(id_: int, name: str, amount: float, active: bool) -> bytes:
    """A JsonConverter value with its schema (``schemas.enable=true``)."""
    schema = {
        "type": "struct",
        "name": "shop.Order",
        "optional": False,
        "fields": [
            {"field": "id", "type": "int32", "optional": False},
            {"field": "name", "type": "string", "optional": False},
            {"field": "amount", "type": "double", "optional": False},
            {"field": "active", "type": "boolean", "optional": False},
        ],
    }
    payload = {"id": id_, "name": name, "amount": amount, "active": active}
    return json.dumps({"schema": schema, "payload": payload}).encode()


def _produce(env: dict[str, str], topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    for value in values:
        producer.produce(topic, value=value)  # the topic is created on first use
    assert producer.flush(30) == 0


def _rows(dsn: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'public."{table}"',)).fetchone()
        if exists is None or exists[0] is None:
            return []
        query = f'SELECT id, name, amount, active FROM "{table}" ORDER BY id'
        return [tuple(row) for row in conn.execute(query).fetchall()]


def _wait_for_rows(
    stack: Stack, table: str, connector: str, expected: list[tuple[Any, ...]]
) -> None:
    deadline = time.monotonic() + SINK_TIMEOUT
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = _rows(stack.env["PG_DSN"], table)
        if rows == expected:
            return
        time.sleep(1)
    with _rest(stack.env) as rest:
        status = rest.get(f"/connectors/{connector}/status").json()
    raise AssertionError(f"rows {rows} != {expected} after {SINK_TIMEOUT:g}s; status {status}")


def test_jdbc_sink_writes_topic_to_postgres(stack: Stack) -> None:
    env = stack.env
    # Debezium names the table after the topic; underscores need no quoting
    topic = f"orders_{uuid.uuid4().hex[:8]}"
    connector = f"pg-sink-{topic}"
    _produce(
        env,
        topic,
        [
            _record(1, "apple", 1.5, True),
            _record(2, "pear", 2.25, False),
            _record(3, "fig", 30.0, True),
        ],
    )
    config = {
        "connector.class": devstack.JDBC_SINK_CLASS,
        "tasks.max": "1",
        "topics": topic,
        "connection.url": env["PG_JDBC_URL"],
        "connection.username": env["PG_USER"],
        "connection.password": env["PG_PASSWORD"],
        "insert.mode": "upsert",
        "primary.key.mode": "record_value",
        "primary.key.fields": "id",
        "schema.evolution": "basic",
        "consumer.override.auto.offset.reset": "earliest",
    }
    with _rest(env) as rest:
        created = rest.put(f"/connectors/{connector}/config", json=config)
        assert created.status_code in (200, 201), created.text
    try:
        _wait_for_rows(
            stack,
            topic,
            connector,
            [(1, "apple", 1.5, True), (2, "pear", 2.25, False), (3, "fig", 30.0, True)],
        )
        # upsert: a second record for id 2 replaces the row instead of adding one
        _produce(env, topic, [_record(2, "pear", 9.75, True)])
        _wait_for_rows(
            stack,
            topic,
            connector,
            [(1, "apple", 1.5, True), (2, "pear", 9.75, True), (3, "fig", 30.0, True)],
        )
        with psycopg.connect(env["PG_DSN"]) as conn:
            key = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
                (f'public."{topic}"',),
            ).fetchall()
        assert key == [("id",)]
    finally:
        with _rest(env) as rest:
            rest.delete(f"/connectors/{connector}")


def test_second_up_reuses_what_runs(stack: Stack) -> None:
    began = time.monotonic()
    assert stack.dev.up(["connect"]) == stack.env
    assert time.monotonic() - began < 10


def test_down_stops_everything(stack: Stack) -> None:
    stopped = stack.dev.down()
    assert set(stopped) == {"kafka", "postgres", "connect"}
    assert all(state.state != "running" for state in stack.dev.status())
    assert not stack.dev.env_path.exists()
    # nothing started for this project survives: no JVM, no postmaster, none of its children
    # (they call setsid(), so they are not in the postmaster's process group)
    assert _processes_mentioning(str(stack.dev.state_dir)) == []
    assert stack.postgres_children
    assert [pid for pid in [*stack.pids.values(), *stack.postgres_children] if _alive(pid)] == []
