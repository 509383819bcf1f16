"""sluice-flink's online helpers without a cluster: secrets, session properties, errors, jobs."""

from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel, SecretStr

from sluice.errors import RemoteError
from sluice_flink.client import FlinkRest, server_message
from sluice_flink.planner import current_jobs, session_properties, with_secrets


class Kafka(BaseModel):
    sasl_password: SecretStr | None = None
    ssl_key_password: SecretStr | None = None


def test_secrets_are_escaped_for_the_literal_and_the_jaas_string_they_sit_in():
    runtime = {
        "kafka": Kafka(sasl_password=SecretStr("p\"a\\s's"), ssl_key_password=SecretStr("it's"))
    }
    jaas = "'properties.sasl.jaas.config' = '... password=\"{{secret:kafka.sasl_password}}\";'"
    assert with_secrets(jaas, runtime) == (
        "'properties.sasl.jaas.config' = '... password=\"p\\\"a\\\\s''s\";'"
    )
    plain = "'properties.ssl.key.password' = '{{secret:kafka.ssl_key_password}}'"
    assert with_secrets(plain, runtime) == "'properties.ssl.key.password' = 'it''s'"


def test_a_missing_secret_is_named_not_guessed():
    with pytest.raises(RemoteError, match=r"runtime\.kafka\.sasl_password"):
        with_secrets("{{secret:kafka.sasl_password}}", {"kafka": Kafka()})


def test_the_session_carries_the_name_the_spec_hash_and_the_savepoint():
    spec = {"pipeline_name": "sluice.shop.a", "spec_hash": "ab12"}
    assert session_properties(spec, None) == {
        "pipeline.name": "sluice.shop.a",
        "pipeline.global-job-parameters": "sluice.spec-hash:ab12",
    }
    assert session_properties(spec, "file:/sp/1")["execution.savepoint.path"] == "file:/sp/1"


def test_a_live_job_stands_for_its_name_before_any_ended_one():
    jobs = [
        {"jid": "old", "name": "a", "state": "RUNNING", "start-time": 1},
        {"jid": "newer", "name": "a", "state": "CANCELED", "start-time": 5},
        {"jid": "b1", "name": "b", "state": "FAILED", "start-time": 1},
        {"jid": "b2", "name": "b", "state": "FINISHED", "start-time": 2},
    ]
    chosen = current_jobs(jobs)
    assert chosen["a"]["jid"] == "old" and chosen["b"]["jid"] == "b2"


def test_error_answers_keep_the_root_causes_and_mask_secrets():
    trace = (
        "org.apache.flink.table.gateway.api.utils.SqlGatewayException: Failed to fetch results.\n"
        "\tat org.apache...\n"
        "Caused by: org.apache.flink.table.api.ValidationException: Unable to create a sink.\n"
        "Caused by: org.apache.flink.table.api.ValidationException: Table options are: "
        "'password'='hunter2'\n"
    )
    response = httpx.Response(500, json={"errors": ["Internal server error.", trace]})
    assert server_message(response).splitlines() == [
        "org.apache.flink.table.api.ValidationException: Unable to create a sink.",
        "org.apache.flink.table.api.ValidationException: Table options are: 'password'='hunter2'",
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return response

    rest = FlinkRest("http://flink:8081", secrets=["hunter2"])
    rest._client = httpx.Client(base_url=rest.url, transport=httpx.MockTransport(handler))
    with pytest.raises(RemoteError) as caught:
        rest.jobs()
    assert "hunter2" not in caught.value.message and "****" in caught.value.message


def test_an_unreachable_cluster_says_where_it_looked():
    rest = FlinkRest("http://127.0.0.1:1", timeout=2)
    with pytest.raises(RemoteError, match=r"http://127\.0\.0\.1:1 did not answer GET /overview"):
        rest.overview()


def test_a_job_that_never_runs_for_want_of_slots_says_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/overview":
            return httpx.Response(
                200, json={"slots-total": 4, "slots-available": 0, "jobs-running": 4}
            )
        # the job waits for resources: created, its tasks scheduled but none running
        return httpx.Response(200, json={"state": "RUNNING", "status-counts": {"SCHEDULED": 2}})

    rest = FlinkRest("http://flink:8081")
    rest._client = httpx.Client(base_url=rest.url, transport=httpx.MockTransport(handler))
    with pytest.raises(RemoteError) as caught:
        rest.wait_until_running("abc", timeout=0.3)
    assert caught.value.render() == (
        "timed out after 0.3s waiting for job abc to run\n"
        "  hint: the cluster has no free task slot (4 in all, 4 jobs running): add TaskManagers "
        "or taskmanager.numberOfTaskSlots, lower the parallelism, or stop jobs"
    )
