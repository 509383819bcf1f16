"""sluice-flink online, for real: plan, apply, upgrade, status and destroy of Flink SQL jobs.

One module-wide stack (a KRaft broker, a Flink session cluster and its SQL Gateway, started as
java processes by the plugins' dev services) serves every story. Each story is a real project
driven through the CLI; topics are created here with the admin client (topic management is the
Kafka plugin's part), records are produced and consumed with confluent-kafka, and what Flink
did is checked through its REST API. Run with ``-s`` to see submit and upgrade times.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from sluice.sql.reserved import RESERVED
from sluice.testing import SluiceProject, local_stack
from sluice_flink.devstack import flink_home
from sluice_flink.functions import PLANNER_FUNCTIONS

pytestmark = pytest.mark.integration

confluent_kafka = pytest.importorskip("confluent_kafka")
httpx = pytest.importorskip("httpx")

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

import sluice_kafka.testing as kafka_testing  # noqa: E402
from sluice_kafka.testing import TopicReader  # noqa: E402

Env = dict[str, str]
MakeProject = Callable[[Mapping[str, str]], SluiceProject]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka", "flink-sql-gateway"]) as env:
        yield env


# -- helpers ----------------------------------------------------------------------------------


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def create_topics(env: Env, *names: str) -> None:
    kafka_testing.create_topics(env["KAFKA_BOOTSTRAP"], *names)


def produce(env: Env, topic: str, records: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "enable.idempotence": True})
    for record in records:
        producer.produce(topic, json.dumps(record).encode())
    assert producer.flush(30) == 0


def rest(env: Env, path: str) -> Any:
    response = httpx.get(env["FLINK_REST_URL"] + path, timeout=30)
    response.raise_for_status()
    return response.json()


def jobs_named(env: Env, name: str) -> list[dict[str, Any]]:
    jobs = rest(env, "/jobs/overview")["jobs"]
    return sorted((j for j in jobs if j["name"] == name), key=lambda j: j["start-time"])


def running_job(env: Env, name: str) -> dict[str, Any]:
    running = [j for j in jobs_named(env, name) if j["state"] == "RUNNING"]
    assert len(running) == 1, jobs_named(env, name)
    return running[0]


def run_ok(project: SluiceProject, env: Env, *args: str) -> str:
    result = project.run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


def change_seconds(project: SluiceProject, action: str) -> list[float]:
    data = json.loads((project.path / "target" / "run_results.json").read_text())
    return [r["seconds"] for r in data["results"] if r["action"] == action]


def stop_jobs_of(env: Env, project_name: str) -> None:
    """Leave no job behind (4 slots serve every story): cancel what a failed story left."""
    for job in rest(env, "/jobs/overview")["jobs"]:
        if job["name"].startswith(f"sluice.{project_name}.") and job["state"] == "RUNNING":
            httpx.patch(f"{env['FLINK_REST_URL']}/jobs/{job['jid']}?mode=cancel", timeout=30)


def project_yaml(name: str, source_topic: str, models: str) -> str:
    return f"""
project: {{ name: {name} }}
runtime:
  kafka: {{ bootstrap_servers: "${{KAFKA_BOOTSTRAP}}" }}
  flink:
    rest_url: "${{FLINK_REST_URL}}"
    sql_gateway_url: "${{FLINK_SQL_GATEWAY_URL}}"
sources:
  - name: orders
    topic: {source_topic}
    event_time: {{ column: ts, watermark: 1s }}
    columns:
      - {{ name: order_id, type: STRING }}
      - {{ name: customer, type: STRING }}
      - {{ name: amount, type: INT }}
      - {{ name: ts, type: "TIMESTAMP(3)" }}
models:
{models}"""


def order(order_id: str, customer: str, amount: int, ts: str = "2024-01-01 00:00:01") -> dict:
    return {"order_id": order_id, "customer": customer, "amount": amount, "ts": ts + ".000"}


def filter_model(topic: str, condition: str) -> str:
    return f"""
  - name: big_orders
    materialized: flink
    topic: {{ name: {topic} }}
    sql: SELECT order_id, customer, amount FROM {{{{ source("orders") }}}} WHERE {condition}
"""


@contextlib.contextmanager
def deployed(
    env: Env, sluice_project: MakeProject, model: str, records: list[dict[str, Any]]
) -> Iterator[tuple[SluiceProject, TopicReader]]:
    """A project of one model that reads ``records`` from a new orders topic and writes a new
    topic (``OUTPUT_TOPIC`` in ``model``, YAML): applied, its job RUNNING. Yields the project
    and a reader of the output topic; destroys the project after."""
    name = _unique("shop")
    source, output = _unique("orders"), _unique("out")
    create_topics(env, source, output)
    model = model.replace("OUTPUT_TOPIC", output)
    project = sluice_project({"stream_project.yml": project_yaml(name, source, model)})
    reader = TopicReader(env["KAFKA_BOOTSTRAP"], output)
    try:
        produce(env, source, records)
        run_ok(project, env, "apply")
        model_name = re.findall(r"- name: (\w+)", model)[0]
        running_job(env, f"sluice.{name}.{model_name}")
        yield project, reader
        run_ok(project, env, "destroy", "--yes")
    finally:
        reader.close()
        stop_jobs_of(env, name)


# -- stories ----------------------------------------------------------------------------------


def test_a_filter_job_runs_is_left_alone_and_upgrades_with_a_savepoint(
    env: Env, sluice_project: MakeProject
) -> None:
    name = _unique("shop")
    source, output = _unique("orders"), _unique("big")
    create_topics(env, source, output)
    project = sluice_project(
        {"stream_project.yml": project_yaml(name, source, filter_model(output, "amount > 100"))}
    )
    reader = TopicReader(env["KAFKA_BOOTSTRAP"], output)
    try:
        out = run_ok(project, env, "apply")
        assert "done    job sluice." in out, out
        submit = change_seconds(project, "create")
        job = running_job(env, f"sluice.{name}.big_orders")

        first = [
            order("o1", "ann", 150),
            order("o2", "bob", 20),
            order("o3", "cid", 300),
            order("o4", "dan", 99),
            order("o5", "eve", 101),
        ]
        produce(env, source, first)
        rows = reader.until(3)
        assert sorted(rows, key=lambda r: r["order_id"]) == [
            {"order_id": "o1", "customer": "ann", "amount": 150},
            {"order_id": "o3", "customer": "cid", "amount": 300},
            {"order_id": "o5", "customer": "eve", "amount": 101},
        ]

        # nothing changed: the plan says so and exits 0 with --detailed-exitcode
        out = run_ok(project, env, "plan", "--detailed-exitcode")
        assert "No changes" in out, out
        out = run_ok(project, env, "status")
        assert f"sluice.{name}.big_orders" in out and "RUNNING" in out and "since=" in out, out

        # a changed filter: the plan replaces the job, apply upgrades it through a savepoint
        project.write(
            {
                "stream_project.yml": project_yaml(
                    name, source, filter_model(output, "amount > 100 OR customer = 'vip'")
                )
            }
        )
        out = run_ok(project, env, "plan")
        assert f"-/+ replace job sluice.{name}.big_orders" in out, out
        assert "stop with savepoint" in out, out

        # produced before the upgrade; both filters agree on them
        produce(env, source, [order(f"b{i}", "fay", 200 + i) for i in range(20)])
        out = run_ok(project, env, "apply")
        upgrade = change_seconds(project, "replace")
        assert "restored from savepoint" in json.dumps(
            json.loads((project.path / "target" / "run_results.json").read_text())
        )
        # produced after: only the new filter lets the vip's small order through
        produce(
            env, source, [order("a1", "vip", 5), order("a2", "gus", 7), order("a3", "hal", 500)]
        )

        rows = reader.until(3 + 20 + 2)
        ids = [r["order_id"] for r in rows]
        expected = {"o1", "o3", "o5", "a1", "a3"} | {f"b{i}" for i in range(20)}
        assert sorted(ids) == sorted(expected), "lost or duplicated records across the upgrade"

        new = running_job(env, f"sluice.{name}.big_orders")
        assert new["jid"] != job["jid"]
        restored = rest(env, f"/jobs/{new['jid']}/checkpoints")["latest"]["restored"]
        assert restored["is_savepoint"] is True, restored
        assert rest(env, f"/jobs/{job['jid']}")["state"] == "FINISHED"
        out = run_ok(project, env, "status")
        assert "savepoint=" in out, out
        print(f"\n[flink] submit {submit[0]:.1f}s, upgrade with savepoint {upgrade[0]:.1f}s")

        # destroy cancels the job (no savepoint to resume from) and leaves nothing running
        out = run_ok(project, env, "destroy", "--yes")
        assert f"job {new['jid']} cancelled" in json.dumps(
            json.loads((project.path / "target" / "run_results.json").read_text())
        ), out
        assert all(j["state"] != "RUNNING" for j in jobs_named(env, f"sluice.{name}.big_orders"))
    finally:
        reader.close()
        stop_jobs_of(env, name)


def test_an_exactly_once_job_upgrades_while_records_arrive_without_loss_or_duplicates(
    env: Env, sluice_project: MakeProject
) -> None:
    name = _unique("shop")
    source, output = _unique("orders"), _unique("big")
    create_topics(env, source, output)

    def model(condition: str) -> str:
        text = filter_model(output, condition)
        return text.replace(
            "    materialized: flink\n",
            "    materialized: flink\n    flink: { delivery: exactly-once }\n",
        )

    project = sluice_project(
        {"stream_project.yml": project_yaml(name, source, model("amount > 100"))}
    )
    reader = TopicReader(env["KAFKA_BOOTSTRAP"], output, isolation="read_committed")
    try:
        run_ok(project, env, "apply")
        produce(env, source, [order(f"o{i}", "ann", 150 + i) for i in range(30)])
        assert len(reader.until(30)) == 30

        # the upgrade (a changed filter, through a savepoint) runs while records keep coming
        project.write(
            {
                "stream_project.yml": project_yaml(
                    name, source, model("amount > 100 OR customer = 'vip'")
                )
            }
        )
        during = [order(f"d{i}", "bob", 300 + i) for i in range(120)]

        def keep_producing() -> None:
            for start in range(0, len(during), 10):
                produce(env, source, during[start : start + 10])
                time.sleep(0.25)

        producer = threading.Thread(target=keep_producing)
        producer.start()
        out = run_ok(project, env, "apply")
        producer.join()
        assert "restored from savepoint" in json.dumps(
            json.loads((project.path / "target" / "run_results.json").read_text())
        ), out
        produce(env, source, [order("a1", "vip", 5), order("a2", "gus", 7)])

        rows = reader.until(30 + len(during) + 1)
        ids = sorted(r["order_id"] for r in rows)
        expected = sorted([f"o{i}" for i in range(30)] + [r["order_id"] for r in during] + ["a1"])
        assert ids == expected, "lost or duplicated records across the upgrade"
    finally:
        reader.close()
        stop_jobs_of(env, name)


def test_a_window_aggregation_counts_per_window_in_event_time(
    env: Env, sluice_project: MakeProject
) -> None:
    name = _unique("shop")
    source, output = _unique("orders"), _unique("per_minute")
    create_topics(env, source, output)
    model = f"""
  - name: per_minute
    materialized: flink
    topic: {{ name: {output} }}
    sql: |
      SELECT customer, COUNT(*) AS n, window_start, window_end
      FROM TABLE(TUMBLE(TABLE {{{{ source("orders") }}}}, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
      GROUP BY customer, window_start, window_end
"""
    project = sluice_project({"stream_project.yml": project_yaml(name, source, model)})
    reader = TopicReader(env["KAFKA_BOOTSTRAP"], output)
    try:
        run_ok(project, env, "apply")
        running_job(env, f"sluice.{name}.per_minute")
        produce(
            env,
            source,
            [
                order("w1", "ann", 1, "2024-01-01 00:00:05"),
                order("w2", "bob", 1, "2024-01-01 00:00:20"),
                order("w3", "ann", 1, "2024-01-01 00:00:40"),
                order("w4", "ann", 1, "2024-01-01 00:00:59"),
                order("w5", "bob", 1, "2024-01-01 00:01:10"),
                # far later: moves the watermark past the end of both windows
                order("w6", "cid", 1, "2024-01-01 00:05:00"),
            ],
        )
        rows = reader.until(4)
        counts = {(r["customer"], r["window_start"][11:16]): r["n"] for r in rows}
        assert counts == {("ann", "00:00"): 3, ("bob", "00:00"): 1, ("bob", "00:01"): 1}, rows
        run_ok(project, env, "destroy", "--yes")
    finally:
        reader.close()
        stop_jobs_of(env, name)


def test_a_model_of_casts_declares_flink_types_and_its_job_writes_the_cast_values(
    env: Env, sluice_project: MakeProject
) -> None:
    # sqlglot spells STRING and TIMESTAMP_LTZ as TEXT and TIMESTAMPLTZ; Flink refused a sink
    # table declared with those, so this apply failed; a ROW type was a syntax error
    model = """
  - name: cast_orders
    materialized: flink
    topic: { name: OUTPUT_TOPIC }
    sql: |
      SELECT order_id, CAST(amount AS STRING) AS amount_text,
             CAST(amount AS DECIMAL(10,2)) AS amount_exact, CAST(ts AS TIMESTAMP_LTZ(3)) AS ordered_at,
             CAST(ROW(order_id, customer) AS ROW<id STRING, who STRING>) AS parts
      FROM {{ source("orders") }}
"""
    with deployed(env, sluice_project, model, [order("o1", "ann", 5)]) as (project, reader):
        rows = reader.until(1)
        assert [(r["order_id"], r["amount_text"], r["amount_exact"]) for r in rows] == [
            ("o1", "5", 5.0)
        ]
        assert rows[0]["ordered_at"].startswith("2024-01-01")
        assert rows[0]["parts"] == {"id": "o1", "who": "ann"}
        run_ok(project, env, "compile")
        columns = project.manifest()["nodes"]["model.cast_orders"]["columns"]
        assert [(c["name"], c["type"]) for c in columns] == [
            ("order_id", "STRING"),
            ("amount_text", "STRING"),
            ("amount_exact", "DECIMAL(10,2)"),
            ("ordered_at", "TIMESTAMP_LTZ(3)"),
            ("parts", "ROW<`id` STRING,`who` STRING>"),
        ]


def test_quoted_reserved_words_and_time_unit_functions_run_as_written(
    env: Env, sluice_project: MakeProject
) -> None:
    # unquoted, `value` and `user` are compile errors (Flink's parser refuses them); sqlglot
    # read TIMESTAMPDIFF(SECOND, ...) as a column named SECOND, and refused it
    model = """
  - name: worded_orders
    materialized: flink
    topic: { name: OUTPUT_TOPIC }
    columns: [{ name: day, type: STRING }]
    sql: |
      SELECT order_id AS `value`, customer AS `user`,
             TIMESTAMPDIFF(SECOND, ts, TIMESTAMPADD(MINUTE, 2, ts)) AS horizon,
             DATE_FORMAT(ts, 'yyyy-MM-dd') AS `day`
      FROM {{ source("orders") }}
"""
    with deployed(env, sluice_project, model, [order("o1", "ann", 5)]) as (_, reader):
        assert reader.until(1) == [
            {"value": "o1", "user": "ann", "horizon": 120, "day": "2024-01-01"}
        ]


def test_json_functions_with_their_clauses_run_as_written(
    env: Env, sluice_project: MakeProject
) -> None:
    # RETURNING and ON EMPTY were syntax errors at compile; the column is typed INT from them
    model = """
  - name: parsed_orders
    materialized: flink
    topic: { name: OUTPUT_TOPIC }
    sql: |
      SELECT order_id,
             JSON_VALUE(customer, '$.tier' RETURNING INT DEFAULT 0 ON EMPTY) AS tier,
             JSON_EXISTS(customer, '$.vip' FALSE ON ERROR) AS vip
      FROM {{ source("orders") }}
"""
    records = [order("o1", '{"tier": 3, "vip": true}', 5), order("o2", '{"tier": 7}', 6)]
    with deployed(env, sluice_project, model, records) as (project, reader):
        rows = sorted(reader.until(2), key=lambda r: r["order_id"])
        assert rows == [
            {"order_id": "o1", "tier": 3, "vip": True},
            {"order_id": "o2", "tier": 7, "vip": False},
        ]
        run_ok(project, env, "compile")
        columns = project.manifest()["nodes"]["model.parsed_orders"]["columns"]
        assert [(c["name"], c["type"]) for c in columns] == [
            ("order_id", "STRING"),
            ("tier", "INT"),
            ("vip", "BOOLEAN"),
        ]


@pytest.mark.usefixtures("env")  # the stack's Flink libraries are installed
@pytest.mark.parametrize(
    ("words", "listed"), [("reserved", RESERVED), ("functions", PLANNER_FUNCTIONS)]
)
def test_the_word_lists_are_those_of_the_flink_the_stack_runs(
    words: str, listed: frozenset[str]
) -> None:
    # the lists were read off Flink 2.2.1's planner: a Flink upgrade must bring new ones
    script = Path(__file__).parents[3] / "scripts" / "flink_sql_words.sh"
    printed = subprocess.run(
        ["bash", str(script), words, str(flink_home() / "lib")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split()

    assert set(printed) == listed


def test_a_masked_model_without_a_gateway_writes_only_masked_values(
    env: Env, sluice_project: MakeProject
) -> None:
    model = """
  - name: masked_orders
    materialized: topic
    topic: { name: OUTPUT_TOPIC }
    sql: SELECT order_id, customer, amount FROM {{ source("orders") }}
    mask_fallback: materialize
    mask:
      order_id: { rule: mask_first, keep: 3, char: "#" }
      customer: { rule: mask_all }
"""
    records = [order("ord-1001", "ann", 5), order("o2", "bob-smith", 7)]
    with deployed(env, sluice_project, model, records) as (_, reader):
        rows = reader.until(2)
        assert sorted(rows, key=lambda r: r["amount"]) == [
            {"order_id": "###-1001", "customer": "***", "amount": 5},
            {"order_id": "##", "customer": "*********", "amount": 7},
        ]


def test_two_jobs_keep_their_settings_to_themselves(env: Env, sluice_project: MakeProject) -> None:
    name = _unique("shop")
    source, wide, narrow = _unique("orders"), _unique("wide"), _unique("narrow")
    create_topics(env, source, wide, narrow)
    models = f"""
  - name: wide
    materialized: flink
    topic: {{ name: {wide} }}
    flink: {{ parallelism: 2, config: {{ "table.exec.source.idle-timeout": "5 s" }} }}
    sql: SELECT order_id FROM {{{{ source("orders") }}}}
  - name: narrow
    materialized: flink
    topic: {{ name: {narrow} }}
    sql: SELECT order_id FROM {{{{ source("orders") }}}} WHERE amount > 0
"""
    project = sluice_project({"stream_project.yml": project_yaml(name, source, models)})
    try:
        run_ok(project, env, "apply")
        wide_job = running_job(env, f"sluice.{name}.wide")
        narrow_job = running_job(env, f"sluice.{name}.narrow")
        wide_config = rest(env, f"/jobs/{wide_job['jid']}/config")["execution-config"]
        narrow_config = rest(env, f"/jobs/{narrow_job['jid']}/config")["execution-config"]
        assert wide_config["job-parallelism"] == 2
        assert narrow_config["job-parallelism"] == 1  # the cluster default, not the other's SET
        assert (
            wide_config["user-config"]["sluice.spec-hash"]
            != (narrow_config["user-config"]["sluice.spec-hash"])
        )
        out = run_ok(project, env, "status")
        assert out.count("RUNNING") == 2 and out.count("since=") == 2, out

        # narrow leaves the project (an orphan, deleted only with --prune); wide changes and
        # upgrades without state (cancelled, resubmitted)
        wide_only = models.split("  - name: narrow")[0].replace(
            "parallelism: 2,", "parallelism: 1, upgrade: stateless,"
        )
        project.write({"stream_project.yml": project_yaml(name, source, wide_only)})
        out = run_ok(project, env, "plan")
        assert f"- delete job sluice.{name}.narrow" in out and "--prune" in out, out
        assert f"-/+ replace job sluice.{name}.wide" in out and "cancel, resubmit" in out, out
        run_ok(project, env, "apply", "--prune")
        assert all(j["state"] != "RUNNING" for j in jobs_named(env, f"sluice.{name}.narrow"))
        upgraded = running_job(env, f"sluice.{name}.wide")
        assert rest(env, f"/jobs/{wide_job['jid']}")["state"] == "CANCELED"
        config = rest(env, f"/jobs/{upgraded['jid']}/config")["execution-config"]
        assert config["job-parallelism"] == 1
        run_ok(project, env, "destroy", "--yes")
        assert all(j["state"] != "RUNNING" for j in jobs_named(env, f"sluice.{name}.wide"))
    finally:
        stop_jobs_of(env, name)


def test_the_probe_reports_version_slots_and_savepoints(env: Env, tmp_path: Path) -> None:
    from sluice_flink.config import FlinkConfig
    from sluice_flink.planner import probe

    config = FlinkConfig(
        rest_url=env["FLINK_REST_URL"], sql_gateway_url=env["FLINK_SQL_GATEWAY_URL"]
    )
    result = probe({"flink": config}, timeout=10)
    assert result is not None and result.reachable
    assert set(result.capabilities) == {"stream_jobs", "savepoints"}
    assert result.version and result.version.startswith("2.")
    assert "slots free" in (result.detail or "") and "SQL Gateway" in (result.detail or "")


def committed_offsets(env: Env, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` committed on ``topic`` (partition -> offset), none if it has none."""
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "log_level": 0})
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
    try:
        answer = admin.list_consumer_group_offsets(request)[group].result(timeout=30)
    except confluent_kafka.KafkaException:
        return {}
    return {tp.partition: tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def group_state(env: Env, group: str) -> str:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "log_level": 0})
    return str(admin.describe_consumer_groups([group])[group].result(timeout=30).state.name)


def test_destroy_then_apply_rebuilds_the_output_from_the_first_record(
    env: Env, sluice_project: MakeProject
) -> None:
    name = _unique("rebuild")
    source, output = _unique("orders"), _unique("copy")
    job_name = f"sluice.{name}.big_orders"
    create_topics(env, source)  # the output topic is the Kafka plugin's: created, destroyed
    project = sluice_project(
        {"stream_project.yml": project_yaml(name, source, filter_model(output, "amount > 0"))}
    )
    first = [order(f"n{i}", "ann", 10 + i) for i in range(5)]
    later = [order(f"m{i}", "bob", 50 + i) for i in range(3)]
    readers = [TopicReader(env["KAFKA_BOOTSTRAP"], output)]
    try:
        run_ok(project, env, "apply")
        job = running_job(env, job_name)
        produce(env, source, first)
        assert len(readers[0].until(len(first))) == len(first)
        # the job commits its read position to its group on checkpoints, without joining it
        deadline = time.monotonic() + 60
        while committed_offsets(env, job_name, source) != {0: len(first)}:
            assert time.monotonic() < deadline, committed_offsets(env, job_name, source)
            time.sleep(1)
        assert group_state(env, job_name) == "EMPTY"

        # destroy without --yes shows the plan: what deleting the job means for a later apply
        shown = project.run("destroy", env=env)
        assert shown.exit_code == 1, shown.output
        assert (
            f"- delete job {job_name} (flink)  # sluice destroy; cancels job {job['jid']} and "
            f"deletes its consumer group {job_name}: a later apply starts from the earliest "
            "offsets"
        ) in shown.output, shown.output
        out = run_ok(project, env, "destroy", "--yes")
        assert f"done    job {job_name}" in out and f"done    topic {output}" in out, out
        assert "destroy: 2 success" in out, out
        assert f"job {job['jid']} cancelled; consumer group {job_name} deleted" in json.dumps(
            json.loads((project.path / "target" / "run_results.json").read_text())
        )
        assert rest(env, f"/jobs/{job['jid']}")["state"] == "CANCELED"
        assert group_state(env, job_name) == "DEAD"

        # records arrive while nothing runs; the next apply starts over from the first record
        produce(env, source, later)
        out = run_ok(project, env, "apply")
        assert "restored from savepoint" not in out, out
        readers.append(TopicReader(env["KAFKA_BOOTSTRAP"], output))  # the topic is a new one
        rows = readers[-1].until(len(first) + len(later), timeout=120)
        assert sorted(r["order_id"] for r in rows) == sorted(
            r["order_id"] for r in first + later
        ), "destroy then apply did not rebuild the output topic"
        run_ok(project, env, "destroy", "--yes")
    finally:
        for reader in readers:
            reader.close()
        stop_jobs_of(env, name)
        delete_topics(env, source, output)


def delete_topics(env: Env, *topics: str) -> None:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "log_level": 0})
    existing = set(admin.list_topics(timeout=30).topics)
    doomed = [t for t in topics if t in existing]
    for future in admin.delete_topics(doomed).values() if doomed else ():
        future.result(timeout=30)
