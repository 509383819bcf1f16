"""Continuous tests for real: a Flink job per test writes violations, `sluice test` reads them.

The story runs on the dev stack (a KRaft broker, a Flink session cluster and its SQL Gateway;
``SLUICE_TEST_STACK_ENV`` reuses a running one): a source topic, a Flink model copying it, and
a continuous test on the model. Good records first: the test passes. Then records that break
the assertions: the test fails with exactly the expected number of violations, and never shows
the value of the column classified pii. A loosened assertion upgrades the job (violations of
the old checks no longer count), and a test that leaves the project is pruned: job and
violations topic.
"""

from __future__ import annotations

import contextlib
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

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

CONSUMED_TIMEOUT = 180.0  # records through two jobs and their checkpoints on a 2-core machine

Env = dict[str, str]
MakeProject = Callable[[Mapping[str, str]], SluiceProject]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka", "flink-sql-gateway"]) as env:
        yield env


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def project_yaml(name: str, source: str, output: str) -> str:
    return f"""
project: {{ name: {name} }}
runtime:
  kafka: {{ bootstrap_servers: "${{KAFKA_BOOTSTRAP}}" }}
  flink:
    rest_url: "${{FLINK_REST_URL}}"
    sql_gateway_url: "${{FLINK_SQL_GATEWAY_URL}}"
    checkpoint_interval: 2s
sources:
  - name: orders
    topic: {source}
    event_time: {{ column: ts, watermark: 1s }}
    columns:
      - {{ name: order_id, type: STRING }}
      - {{ name: customer, type: STRING, classification: pii }}
      - {{ name: status, type: STRING }}
      - {{ name: amount, type: INT }}
      - {{ name: ts, type: "TIMESTAMP(3)" }}
models:
  - name: orders_clean
    materialized: flink
    topic: {{ name: {output} }}
    sql: SELECT order_id, customer, status, amount, ts FROM {{{{ source("orders") }}}}
tests:
  - name: orders_quality
    model: orders_clean
    type: continuous
    assertions:
      - not_null: {{ columns: [order_id] }}
      - range: {{ column: amount, min: 0, max: 1000 }}
      - accepted_values: {{ column: status, values: [new, paid] }}
"""


def order(order_id: str | None, status: str | None, amount: int | None) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer": "Jane Secret",
        "status": status,
        "amount": amount,
        "ts": "2024-01-01 00:00:01.000",
    }


GOOD = [
    order("o1", "new", 10),
    order("o2", "paid", 1000),
    order("o3", None, 0),  # a null passes accepted_values and range
    order("o4", "paid", None),
]
# each breaks the assertions named: 1 + 1 + 1 + 3 = 6 violations
BAD = [
    order(None, "new", 5),  # not_null
    order("b2", "lost", 50),  # accepted_values
    order("b3", "paid", -3),  # range
    order(None, "weird", 5000),  # not_null, accepted_values, range
]


def produce(env: Env, topic: str, records: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    for record in records:
        producer.produce(topic, json.dumps(record).encode())
    assert producer.flush(30) == 0


def end_offset(env: Env, topic: str) -> int:
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "group.id": _unique("ends")}
    )
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1])
    finally:
        consumer.close()


def committed(env: Env, group: str, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "log_level": 0})
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])
    answer = admin.list_consumer_group_offsets([request])[group].result(timeout=30)
    return max(0, int(answer.topic_partitions[0].offset))


def wait_consumed(env: Env, group: str, topic: str) -> None:
    """Until the job reading ``topic`` as ``group`` committed (on a completed checkpoint, after
    its sink flushed) everything the topic holds."""
    deadline = time.monotonic() + CONSUMED_TIMEOUT
    end = end_offset(env, topic)
    while committed(env, group, topic) < end:
        assert time.monotonic() < deadline, f"{group} did not consume {topic} to offset {end}"
        time.sleep(1)


def wait_checked(env: Env, name: str, source: str, output: str) -> None:
    wait_consumed(env, f"sluice.{name}.orders_clean", source)
    wait_consumed(env, f"sluice.{name}.test.orders_quality", output)


def run(project: SluiceProject, env: Env, *args: str) -> tuple[int, str]:
    result = project.run(*args, env=env)
    return result.exit_code, result.output


def running_jobs(env: Env, name: str) -> list[dict[str, Any]]:
    jobs = httpx.get(env["FLINK_REST_URL"] + "/jobs/overview", timeout=30).json()["jobs"]
    return [j for j in jobs if j["name"] == name and j["state"] == "RUNNING"]


def stop_jobs_of(env: Env, project_name: str) -> None:
    """Cancel what a failed story left running, and wait until it stopped (so that it commits
    no offset after its consumer group is deleted)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = httpx.get(env["FLINK_REST_URL"] + "/jobs/overview", timeout=30).json()["jobs"]
        alive = [
            j
            for j in jobs
            if j["name"].startswith(f"sluice.{project_name}.")
            and j["state"] not in ("FINISHED", "FAILED", "CANCELED")
        ]
        if not alive:
            return
        for job in alive:
            if job["state"] == "RUNNING":
                httpx.patch(f"{env['FLINK_REST_URL']}/jobs/{job['jid']}?mode=cancel", timeout=30)
        time.sleep(1)


def delete_topics(env: Env, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "log_level": 0})
    existing = set(admin.list_topics(timeout=30).topics)
    doomed = [n for n in names if n in existing]
    for future in admin.delete_topics(doomed).values() if doomed else ():
        future.result(timeout=30)


def delete_groups(env: Env, *groups: str) -> None:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "log_level": 0})
    for future in admin.delete_consumer_groups(list(groups), request_timeout=30).values():
        with contextlib.suppress(Exception):  # a group a failed story never created
            future.result(timeout=30)


def run_results(project: SluiceProject) -> list[dict[str, Any]]:
    data = json.loads((project.path / "target" / "run_results.json").read_text())
    return list(data["results"])


def test_a_continuous_test_passes_on_good_records_and_counts_each_violation(
    env: Env, sluice_project: MakeProject
) -> None:
    name = _unique("ctest")
    source, output = _unique("orders"), _unique("clean")
    violations = f"_sluice_violations.{name}.orders_quality"
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "log_level": 0})
    for future in admin.create_topics([NewTopic(source, 1, 1)]).values():
        future.result(timeout=30)
    project = sluice_project({"stream_project.yml": project_yaml(name, source, output)})
    started = time.monotonic()
    try:
        code, out = run(project, env, "plan")
        assert code == 0, out
        assert f"job sluice.{name}.test.orders_quality" in out, out
        assert f"topic {violations}" in out, out
        code, out = run(project, env, "apply")
        assert code == 0, out
        applied = time.monotonic()

        produce(env, source, GOOD)
        wait_checked(env, name, source, output)
        code, out = run(project, env, "test")
        assert code == 0, out
        assert "PASS  orders_quality" in out and "no violations in the last 1h" in out, out
        passed = time.monotonic()

        produce(env, source, BAD)
        wait_checked(env, name, source, output)
        code, out = run(project, env, "test")
        assert code == 1, out
        assert "FAIL  orders_quality" in out, out
        assert (
            "6 violations in the last 1h (accepted_values(status) 2, not_null(order_id) 2, "
            "range(amount) 2)" in out
        ), out
        assert "Jane Secret" not in out
        print("\n" + out)
        (result,) = run_results(project)
        assert (result["status"], result["failures"]) == ("fail", 6)
        reasons = sorted(d["reason"] for d in result["details"])
        assert reasons == [
            "amount is above the maximum 1000",
            "amount is below the minimum 0",
            "order_id is null",
            "order_id is null",
            'status is not one of ["new", "paid"]',
            'status is not one of ["new", "paid"]',
        ]
        records = [json.loads(d["value"]) for d in result["details"]]
        assert {r["customer"] for r in records} == {"***"}, records
        assert sorted(d["offset"] for d in result["details"]) == [4, 5, 6, 7, 7, 7]
        assert all(d["event_time"].startswith("2024-01-01 00:00:01") for d in result["details"])
        assert "Jane Secret" not in (project.path / "target" / "run_results.json").read_text()
        failed = time.monotonic()

        # the same window read again: the same answer (nothing is committed)
        code, out = run(project, env, "test")
        assert code == 1 and "6 violations" in out, out

        # a loosened range: until apply, the job checks an older version of the test
        loosened = project_yaml(name, source, output).replace("max: 1000 ", "max: 10000 ")
        project.write({"stream_project.yml": loosened})
        code, out = run(project, env, "test")
        assert code == 1 and "ERROR orders_quality" in out, out
        assert "checks an older version of this test; run `sluice apply`" in out, out
        code, out = run(project, env, "plan")
        assert f"-/+ replace job sluice.{name}.test.orders_quality" in out, out
        assert "cancel, resubmit" in out, out
        code, out = run(project, env, "apply")
        assert code == 0, out
        # the violations of the old checks are not counted; the upgraded job resumes where the
        # old one stopped, so only new records meet the new checks
        code, out = run(project, env, "test")
        assert code == 0 and "PASS  orders_quality" in out, out
        assert "6 older violations found by an earlier version of the test not counted" in out
        produce(env, source, [order("c1", "paid", 5000), order("c2", "lost", 5000)])
        wait_checked(env, name, source, output)
        code, out = run(project, env, "test")
        assert code == 1, out
        assert "1 violation in the last 1h (accepted_values(status) 1)" in out, out
        upgraded = time.monotonic()

        # the test leaves the project: --prune cancels its job, deletes its consumer group (a
        # test added back checks from the earliest record again) and deletes its topic
        without_test = loosened.split("tests:")[0]
        project.write({"stream_project.yml": without_test})
        test_job = f"sluice.{name}.test.orders_quality"
        code, out = run(project, env, "plan")
        assert f"- delete job {test_job}" in out, out
        assert f"deletes its consumer group {test_job}: a later apply starts from" in out, out
        assert f"- delete topic {violations}" in out, out
        code, out = run(project, env, "apply", "--prune")
        assert code == 0, out
        assert violations not in set(admin.list_topics(timeout=30).topics)
        assert not running_jobs(env, test_job)
        state = admin.describe_consumer_groups([test_job])[test_job].result(timeout=30).state
        assert state.name == "DEAD", state

        code, out = run(project, env, "destroy", "--yes")
        assert code == 0, out
        assert not running_jobs(env, f"sluice.{name}.orders_clean")
        print(
            f"\n[continuous] apply {applied - started:.1f}s, pass after "
            f"{passed - applied:.1f}s, fail after {failed - passed:.1f}s, upgrade and "
            f"check after {upgraded - failed:.1f}s"
        )
    finally:
        stop_jobs_of(env, name)
        delete_topics(env, source, output, violations)
        delete_groups(env, f"sluice.{name}.orders_clean", f"sluice.{name}.test.orders_quality")
