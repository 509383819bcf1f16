"""Flink jobs submitted through Flink's REST API alone, with sluice's SQL-runner jar, for real.

Every project here has ``runtime.flink.rest_url`` and no ``sql_gateway_url``: apply uploads
the runner jar (built with mvn on first use) and runs it once per job. The stories check what
the gateway path's stories check: the job runs under its pipeline name with its spec hash,
records go through it, an upgrade goes through a savepoint, prune stops it, and secrets stay
secret. Topics and job names are unique per run; every job is stopped at the end.
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

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

import sluice_kafka.testing as kafka_testing  # noqa: E402
from sluice_kafka.testing import TopicReader  # noqa: E402

Env = dict[str, str]
MakeProject = Callable[[Mapping[str, str]], SluiceProject]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # the gateway serves one story only; the others' projects do not name it
    with local_stack(tmp_path_factory.mktemp("stack"), ["kafka", "flink-sql-gateway"]) as env:
        yield env


# -- helpers ----------------------------------------------------------------------------------


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def create_topics(env: Env, *names: str) -> None:
    kafka_testing.create_topics(env["KAFKA_BOOTSTRAP"], *names)


def delete_topics(env: Env, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    for future in admin.delete_topics(list(names)).values():
        with contextlib.suppress(Exception):  # already gone, or never made: nothing to clean
            future.result(timeout=30)


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


def stop_jobs_of(env: Env, project_name: str) -> None:
    """Leave no job of this story running, whatever failed."""
    for job in rest(env, "/jobs/overview")["jobs"]:
        if job["name"].startswith(f"sluice.{project_name}.") and job["state"] == "RUNNING":
            httpx.patch(f"{env['FLINK_REST_URL']}/jobs/{job['jid']}?mode=cancel", timeout=30)


def run_ok(project: SluiceProject, env: Env, *args: str) -> str:
    result = project.run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


def run_results(project: SluiceProject) -> str:
    return (project.path / "target" / "run_results.json").read_text()


def project_yaml(
    name: str, source_topic: str, models: str, kafka: str | None = None, gateway: bool = False
) -> str:
    """A project whose runtime.flink has only rest_url (jobs go through the REST API), or
    also sql_gateway_url with ``gateway=True``."""
    kafka = kafka or '{ bootstrap_servers: "${KAFKA_BOOTSTRAP}" }'
    gateway_url = '\n    sql_gateway_url: "${FLINK_SQL_GATEWAY_URL}"' if gateway else ""
    return f"""
project: {{ name: {name} }}
runtime:
  kafka: {kafka}
  flink:
    rest_url: "${{FLINK_REST_URL}}"{gateway_url}
sources:
  - name: orders
    topic: {source_topic}
    columns:
      - {{ name: order_id, type: STRING }}
      - {{ name: customer, type: STRING }}
      - {{ name: amount, type: INT }}
models:
{models}"""


def filter_model(topic: str, sql: str, name: str = "big_orders") -> str:
    return f"""
  - name: {name}
    materialized: flink
    topic: {{ name: {topic} }}
    sql: {sql}
"""


def compiled_hash(project: SluiceProject, env: Env, model: str = "big_orders") -> str:
    """The spec hash compiled for ``model``'s job: what plan compares the live job with."""
    run_ok(project, env, "compile")
    node = project.manifest()["nodes"][f"model.{model}"]
    return str(next(a for a in node["artifacts"] if a["kind"] == "job")["spec"]["spec_hash"])


def order(order_id: str, customer: str, amount: int) -> dict[str, Any]:
    return {"order_id": order_id, "customer": customer, "amount": amount}


# -- stories ----------------------------------------------------------------------------------


def test_a_job_submitted_through_the_rest_api_runs_upgrades_from_a_savepoint_and_is_pruned(
    env: Env, sluice_project: MakeProject
) -> None:
    name = _unique("shop")
    source, output = _unique("orders"), _unique("big")
    job_name = f"sluice.{name}.big_orders"
    create_topics(env, source, output)
    first_sql = 'SELECT order_id, customer, amount FROM {{ source("orders") }} WHERE amount > 100'
    project = sluice_project(
        {"stream_project.yml": project_yaml(name, source, filter_model(output, first_sql))}
    )
    reader = TopicReader(env["KAFKA_BOOTSTRAP"], output)
    try:
        out = run_ok(project, env, "plugins")
        assert "jobs submitted through the REST API with sluice's SQL-runner jar" in out, out

        started = time.monotonic()
        run_ok(project, env, "apply")
        submit = time.monotonic() - started
        job = running_job(env, job_name)
        config = rest(env, f"/jobs/{job['jid']}/config")["execution-config"]
        assert config["user-config"]["sluice.spec-hash"] == compiled_hash(project, env), config
        runner_jars = [j for j in rest(env, "/jars")["files"] if j["name"].startswith("sluice-")]
        assert runner_jars and runner_jars[0]["entry"][0]["name"] == "dev.sluice.flink.SqlRunner"

        produce(
            env,
            source,
            [order("o1", "ann", 150), order("o2", "bob", 20), order("o3", "cid", 300)],
        )
        assert sorted(reader.until(2), key=lambda r: r["order_id"]) == [
            {"order_id": "o1", "customer": "ann", "amount": 150},
            {"order_id": "o3", "customer": "cid", "amount": 300},
        ]

        # the job carries its name and spec hash as a gateway-submitted job does: no change
        out = run_ok(project, env, "plan", "--detailed-exitcode")
        assert "No changes" in out, out
        out = run_ok(project, env, "status")
        assert job_name in out and "RUNNING" in out and "spec=current" in out, out

        # changed SQL: stop with a savepoint, resubmitted through the runner from it
        second_sql = (
            "SELECT order_id, UPPER(customer) AS customer, amount "
            'FROM {{ source("orders") }} WHERE amount > 100'
        )
        project.write(
            {"stream_project.yml": project_yaml(name, source, filter_model(output, second_sql))}
        )
        out = run_ok(project, env, "plan")
        assert f"-/+ replace job {job_name}" in out and "stop with savepoint" in out, out
        started = time.monotonic()
        run_ok(project, env, "apply")
        upgrade = time.monotonic() - started
        assert "restored from savepoint" in run_results(project)
        new = running_job(env, job_name)
        assert new["jid"] != job["jid"]
        assert rest(env, f"/jobs/{job['jid']}")["state"] == "FINISHED"
        restored = rest(env, f"/jobs/{new['jid']}/checkpoints")["latest"]["restored"]
        assert restored["is_savepoint"] is True, restored
        new_config = rest(env, f"/jobs/{new['jid']}/config")["execution-config"]
        assert new_config["user-config"]["sluice.spec-hash"] == compiled_hash(project, env)

        # the restored job goes on from where the old one stopped: only new records, upper-cased
        produce(env, source, [order("o4", "dan", 400), order("o5", "eve", 5)])
        rows = reader.until(3)
        assert sorted(rows, key=lambda r: r["order_id"]) == [
            {"order_id": "o1", "customer": "ann", "amount": 150},
            {"order_id": "o3", "customer": "cid", "amount": 300},
            {"order_id": "o4", "customer": "DAN", "amount": 400},
        ], "lost or duplicated records across the upgrade"

        # the model leaves the project: with --prune its job is stopped
        project.write({"stream_project.yml": project_yaml(name, source, "  []\n")})
        out = run_ok(project, env, "plan", "--prune")
        assert f"- delete job {job_name}" in out, out
        run_ok(project, env, "apply", "--prune")
        assert all(j["state"] != "RUNNING" for j in jobs_named(env, job_name))
        print(f"\n[flink rest] submit {submit:.1f}s, upgrade with savepoint {upgrade:.1f}s")
    finally:
        reader.close()
        stop_jobs_of(env, name)
        delete_topics(env, source, output)


def test_secrets_reach_the_job_through_the_runner_and_no_output(
    env: Env, sluice_project: MakeProject
) -> None:
    sasl_users = pytest.importorskip("sluice_kafka.devstack").SASL_USERS
    if "KAFKA_SASL_BOOTSTRAP" not in env:
        pytest.skip("the dev stack has no SASL listener")
    password = sasl_users["admin"]
    name = _unique("shop")
    source, output, broken_output = _unique("orders"), _unique("out"), _unique("broken")
    create_topics(env, source, output, broken_output)
    kafka = (
        '{ bootstrap_servers: "${KAFKA_SASL_BOOTSTRAP}", security_protocol: SASL_PLAINTEXT, '
        'sasl_mechanism: PLAIN, sasl_username: admin, sasl_password: "${ADMIN_PASSWORD}" }'
    )
    good = filter_model(output, 'SELECT order_id, amount FROM {{ source("orders") }}', "copied")
    broken = f"""
  - name: broken
    materialized: flink
    topic: {{ name: {broken_output} }}
    columns: [{{ name: order_id, type: STRING }}, {{ name: amount, type: INT }}]
    sql: SELECT order_id, NO_SUCH_FUNCTION(amount) AS amount FROM {{{{ source("orders") }}}}
"""
    env_with_password = {**env, "ADMIN_PASSWORD": password}
    project = sluice_project({"stream_project.yml": project_yaml(name, source, good, kafka)})
    reader = TopicReader(env["KAFKA_BOOTSTRAP"], output)
    try:
        # the job logs in to Kafka with the password the runner got in its arguments
        out = run_ok(project, env_with_password, "apply")
        running_job(env, f"sluice.{name}.copied")
        produce(env, source, [order("s1", "ann", 1), order("s2", "bob", 2)])
        assert sorted(reader.until(2), key=lambda r: r["order_id"]) == [
            {"order_id": "s1", "amount": 1},
            {"order_id": "s2", "amount": 2},
        ]
        out += run_ok(project, env_with_password, "compile")
        compiled = (project.path / "target" / "flink" / "copied.sql").read_text()
        assert password not in out and password not in compiled
        assert "{{secret:kafka.sasl_password}}" in compiled

        # a statement Flink refuses: the error names it, and shows no password
        # (listed as a function of the cluster, so that sluice lets it through to Flink)
        listed = project_yaml(name, source, good + broken, kafka).replace(
            'rest_url: "${FLINK_REST_URL}"',
            'rest_url: "${FLINK_REST_URL}"\n    functions: [NO_SUCH_FUNCTION]',
        )
        project.write({"stream_project.yml": listed})
        result = project.run("apply", env=env_with_password)
        assert result.exit_code != 0, result.output
        # numbered as in target/flink/broken.sql: 2 SETs, 2 tables, then the INSERT
        assert "statement 5 (INSERT INTO `broken` ...) failed" in result.output, result.output
        assert "No match found for function signature NO_SUCH_FUNCTION" in result.output
        assert password not in result.output and password not in run_results(project)
        assert not [j for j in jobs_named(env, f"sluice.{name}.broken") if j["state"] == "RUNNING"]
    finally:
        reader.close()
        stop_jobs_of(env, name)
        delete_topics(env, source, output, broken_output)


def test_a_job_the_gateway_submitted_is_the_same_job_to_the_rest_path(
    env: Env, sluice_project: MakeProject
) -> None:
    name = _unique("shop")
    source, output = _unique("orders"), _unique("big")
    job_name = f"sluice.{name}.big_orders"
    create_topics(env, source, output)
    sql = 'SELECT order_id, customer, amount FROM {{ source("orders") }} WHERE amount > 100'

    def write(sql: str, gateway: bool) -> None:
        model = filter_model(output, sql)
        project.write({"stream_project.yml": project_yaml(name, source, model, gateway=gateway)})

    project = sluice_project({})
    write(sql, gateway=True)
    reader = TopicReader(env["KAFKA_BOOTSTRAP"], output)
    try:
        out = run_ok(project, env, "plugins")
        assert "jobs submitted through the SQL Gateway" in out, out
        run_ok(project, env, "apply")
        job = running_job(env, job_name)
        produce(env, source, [order("g1", "ann", 150)])
        assert reader.until(1) == [{"order_id": "g1", "customer": "ann", "amount": 150}]

        # without the gateway, the project sees the job it submitted: nothing to do
        write(sql, gateway=False)
        out = run_ok(project, env, "plan", "--detailed-exitcode")
        assert "No changes" in out, out

        # and upgrades it through the runner jar, from the gateway job's savepoint
        write(sql + " AND customer <> 'bob'", gateway=False)
        run_ok(project, env, "apply")
        assert "restored from savepoint" in run_results(project)
        assert running_job(env, job_name)["jid"] != job["jid"]
        produce(env, source, [order("g2", "bob", 500), order("g3", "cid", 300)])
        assert [r["order_id"] for r in reader.until(2)] == ["g1", "g3"]

        run_ok(project, env, "destroy", "--yes")
        assert all(j["state"] != "RUNNING" for j in jobs_named(env, job_name))
    finally:
        reader.close()
        stop_jobs_of(env, name)
        delete_topics(env, source, output)
