"""Reading a virtual topic: every reader connects to the Gateway's Kafka endpoint.

A virtual topic exists only at the Gateway, so a Flink job, a connector and a sample test that
read it must consume through ``runtime.conduktor.proxy_bootstrap``; without it, the project
does not compile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.runtime import RunContext
from sluice.session import Session

PROXY = "gateway:6969"
RUNTIME = """project: { name: shop }
runtime:
  kafka: { bootstrap_servers: "broker:9092" }
  flink: { rest_url: "http://flink:8081" }
  connect: { rest_url: "http://connect:8083" }
  conduktor: { proxy_url: "http://gateway:8888"PROXY }
"""
PROJECT = """sources:
  - name: payments_raw
    topic: payments.raw.v1
    columns:
      - { name: payment_id, type: STRING }
      - { name: country, type: STRING }
      - { name: amount, type: INT }
models:
  - name: payments_clean
    materialized: virtual_topic
    sql: SELECT payment_id, country, amount FROM {{ source("payments_raw") }} WHERE amount > 0
  - name: by_country
    materialized: flink
    sql: SELECT country, COUNT(*) AS n FROM {{ ref("payments_clean") }} GROUP BY country
  - name: payments_to_db
    from: payments_clean
    connector:
      class: jdbc
      config: { connection.url: "jdbc:postgresql://db/shop" }
tests:
  - name: clean_amounts
    model: payments_clean
    assertions:
      - range: { column: amount, min: 1 }
"""


def project_text(proxy: str | None = PROXY) -> str:
    setting = f", proxy_bootstrap: {proxy}" if proxy else ""
    return RUNTIME.replace("PROXY", setting) + PROJECT


@pytest.fixture(autouse=True)
def _no_redpanda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_ENV", raising=False)
    monkeypatch.setenv("SLUICE_DISABLE_PLUGINS", "redpanda")


def compiled(sluice_project: Any, text: str) -> Path:
    project = sluice_project({"stream_project.yml": text})
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    return Path(project.path) / "target"


def test_a_flink_job_reads_a_virtual_topic_through_the_gateway(sluice_project):
    target = compiled(sluice_project, project_text())
    sql = (target / "flink" / "by_country.sql").read_text()
    reading, writing = sql.split("CREATE TEMPORARY TABLE")[1:3]
    assert "`payments_clean`" in reading
    assert "'topic' = 'payments_clean'" in reading
    assert f"'properties.bootstrap.servers' = '{PROXY}'" in reading
    # its output is a real topic: written to the brokers
    assert "'properties.bootstrap.servers' = 'broker:9092'" in writing


def test_a_sink_of_a_virtual_topic_consumes_through_the_gateway(sluice_project):
    target = compiled(sluice_project, project_text())
    connector = json.loads((target / "connect" / "shop-payments_to_db.json").read_text())
    assert connector["config"]["topics"] == "payments_clean"
    assert connector["config"]["consumer.override.bootstrap.servers"] == PROXY


def test_readers_of_real_topics_keep_the_brokers(sluice_project):
    text = project_text().replace('ref("payments_clean")', 'source("payments_raw")')
    text = text.replace("from: payments_clean", "from: payments_raw")
    target = compiled(sluice_project, text)
    assert PROXY not in (target / "flink" / "by_country.sql").read_text()
    connector = json.loads((target / "connect" / "shop-payments_to_db.json").read_text())
    assert "consumer.override.bootstrap.servers" not in connector["config"]


def test_reading_a_virtual_topic_without_proxy_bootstrap_is_a_compile_error(sluice_project):
    project = sluice_project({"stream_project.yml": project_text(proxy=None)})
    result = project.run("compile")
    assert result.exit_code != 0
    flat = " ".join(result.output.split())
    assert (
        "model 'by_country' reads 'payments_clean', a virtual_topic whose topic is served at "
        "runtime.conduktor.proxy_bootstrap, which is not configured" in flat
    )
    assert "set runtime.conduktor.proxy_bootstrap" in flat
    assert "test 'clean_amounts' reads 'payments_clean'" in flat
    assert "Traceback" not in result.output


def test_a_virtual_topic_nobody_reads_needs_no_proxy_bootstrap(sluice_project):
    alone = PROJECT.split("  - name: by_country")[0]
    project = sluice_project({"stream_project.yml": RUNTIME.replace("PROXY", "") + alone})
    assert project.run("compile").exit_code == 0


def _sample_reads_from(
    sluice_project: Any, monkeypatch: pytest.MonkeyPatch, text: str
) -> dict[str, Any]:
    """The client settings the sample test of payments_clean reads its records with."""
    import sluice_kafka.sample_test as sample_test
    from sluice_kafka.sampling import Sample

    project = sluice_project({"stream_project.yml": text})
    session = Session(Path(project.path), probe=False)
    manifest = session.manifest
    context = RunContext(session.project, manifest, session.capabilities, frozenset(manifest.nodes))
    seen: dict[str, Any] = {}

    def read_sample(config: dict[str, Any], topic: str, *_: Any) -> Sample:
        seen.update(config, topic=topic)
        return Sample(topic)

    monkeypatch.setattr(sample_test, "read_sample", read_sample)
    sample_test.run(manifest.nodes["test.clean_amounts"], context)
    return seen


def test_a_sample_test_of_a_virtual_topic_reads_through_the_gateway(sluice_project, monkeypatch):
    seen = _sample_reads_from(sluice_project, monkeypatch, project_text())
    assert seen["topic"] == "payments_clean"
    assert seen["bootstrap.servers"] == PROXY


def test_a_sample_test_of_a_real_topic_reads_the_brokers(sluice_project, monkeypatch):
    text = project_text().replace("model: payments_clean", "model: by_country")
    text = text.replace("range: { column: amount, min: 1 }", "not_null: { columns: [n] }")
    seen = _sample_reads_from(sluice_project, monkeypatch, text)
    assert seen["topic"] == "by_country"
    assert seen["bootstrap.servers"] == "broker:9092"


def test_a_continuous_test_of_a_virtual_topic_reads_through_the_gateway(sluice_project):
    text = project_text().replace(
        "    model: payments_clean\n", "    model: payments_clean\n    type: continuous\n"
    )
    target = compiled(sluice_project, text)
    sql = (target / "flink" / "tests" / "clean_amounts.sql").read_text()
    reading, writing = sql.split("CREATE TEMPORARY TABLE")[1:3]
    assert f"'properties.bootstrap.servers' = '{PROXY}'" in reading
    # its violations go to a topic of its own, on the brokers
    assert "'properties.bootstrap.servers' = 'broker:9092'" in writing
