"""The example project of DESIGN.md §2, kept verbatim in design_example/stream_project.yml.

It configures all five runtime sections. With only sluice-kafka, sluice-flink and
sluice-connect installed, the conduktor and redpanda sections are rightly refused (unknown
sections are errors, never dropped); without those two optional blocks the project validates
and compiles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

EXAMPLE = (Path(__file__).parent / "design_example" / "stream_project.yml").read_text()
ENV = {
    "KAFKA_BOOTSTRAP": "localhost:9092",
    "SR_URL": "http://localhost:8081",
    "FLINK_REST_URL": "http://localhost:8082",
    "FLINK_SQL_GATEWAY_URL": "http://localhost:8083",
    "CONNECT_REST_URL": "http://localhost:8084",
    "PROXY_URL": "http://localhost:8888",
    "CONSOLE_URL": "http://localhost:8080",
    "CONDUKTOR_API_KEY": "conduktor-key-secret",
    "REDPANDA_ADMIN_URL": "http://localhost:9644",
    "PG_JDBC_URL": "jdbc:postgresql://db/ledger?user=ledger&password=pg-secret",
}


def without_optional_enhanced_sections(text: str) -> str:
    """The example minus runtime.conduktor and runtime.redpanda (plugins not installed)."""
    text = re.sub(r"\n  conduktor:.*?(?=\n  redpanda:)", "", text, flags=re.S)
    return re.sub(r"\n  redpanda:[^\n]*\n[^\n]*", "", text)


def test_verbatim_example_names_the_two_plugins_it_also_needs(sluice_project):
    project = sluice_project({"stream_project.yml": EXAMPLE})
    # as if sluice-conduktor were not installed (it may be, in a development environment)
    result = project.run("validate", env={**ENV, "SLUICE_DISABLE_PLUGINS": "conduktor,redpanda"})
    assert result.exit_code != 0
    assert "runtime.conduktor needs the plugin distribution 'sluice-conduktor'" in result.output
    assert "runtime.redpanda needs the plugin distribution 'sluice-redpanda'" in result.output
    assert "2 errors found" in result.output


def test_example_validates_and_compiles_with_kafka_flink_and_connect(sluice_project):
    project = sluice_project({"stream_project.yml": without_optional_enhanced_sections(EXAMPLE)})
    validated = project.run("validate", env=ENV)
    assert validated.exit_code == 0, validated.output
    compiled = project.run("compile", env=ENV)
    assert compiled.exit_code == 0, compiled.output

    target = project.path / "target"
    nodes = project.manifest()["nodes"]
    assert nodes["model.payments_clean"]["materialized"] == "topic"
    assert nodes["model.fraud_scores"]["materialized"] == "flink"
    assert nodes["model.payments_to_postgres"]["materialized"] == "sink"
    topics = json.loads((target / "kafka" / "topics.json").read_text())
    assert [(t["name"], t["partitions"], t["replication_factor"]) for t in topics] == [
        ("fraud_scores", 6, 3),
        ("payments_clean", 12, 3),
    ]
    assert sorted(p.name for p in (target / "flink").iterdir()) == [
        "fraud_scores.sql",
        "payments_clean.sql",
    ]
    fraud = (target / "flink" / "fraud_scores.sql").read_text()
    # the window reads payments_clean, whose ts passes the source's event time through
    assert "WATERMARK FOR `ts` AS `ts` - INTERVAL '5' SECOND" in fraud
    assert "SET 'parallelism.default' = '2'" in fraud
    connector = json.loads(
        (target / "connect" / "fraud-detection-payments_to_postgres.json").read_text()
    )
    assert connector["config"]["connection.url"] == "${PG_JDBC_URL}"
    assert connector["config"]["topics"] == "payments_clean"
    acls = json.loads((target / "kafka" / "acls.json").read_text())
    assert {b["principal"] for b in acls[0]["bindings"]} == {"User:fraud-svc"}
    for path in target.rglob("*"):
        if path.is_file():
            assert b"pg-secret" not in path.read_bytes(), path
