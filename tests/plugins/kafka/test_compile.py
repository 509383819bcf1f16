"""sluice-kafka at compile time: the topics, source checks and ACLs a project asks for."""

from __future__ import annotations

import json

DEFAULTS = (
    "  topic: { partitions: 6, config: { cleanup.policy: delete, retention.ms: 86400000 } }\n"
)
PROJECT = """
project: { name: shop }
runtime:
  kafka: { bootstrap_servers: "broker:9092" }
  flink: { rest_url: "http://flink:8081" }
  connect: { rest_url: "http://connect:8083" }
defaults:
  topic: { partitions: 6, config: { cleanup.policy: delete, retention.ms: 86400000 } }
sources:
  - name: orders
    topic: orders.v1
    columns:
      - { name: order_id, type: STRING }
      - { name: customer, type: STRING }
      - { name: amount, type: "DECIMAL(12,2)" }
models:
  - name: big_orders
    materialized: topic
    sql: SELECT order_id, amount FROM {{ source("orders") }} WHERE amount > 100
    topic:
      name: orders.big.v1
      partitions: 12
      replication_factor: 3
      config: { retention.ms: 604800000 }
    access: { read: ["User:fraud-svc", "User:audit"], write: ["User:loader"] }
  - name: totals
    materialized: flink
    sql: SELECT customer, SUM(amount) AS total FROM {{ source("orders") }} GROUP BY customer
  - name: to_files
    materialized: sink
    from: totals
    connector: { class: file, config: { file: /tmp/totals.txt } }
"""


def compiled(sluice_project, text: str = PROJECT):
    project = sluice_project({"stream_project.yml": text})
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    return project


def test_topics_json_holds_one_spec_per_topic_kafka_must_hold(sluice_project):
    project = compiled(sluice_project)
    topics = json.loads((project.path / "target" / "kafka" / "topics.json").read_text())
    # the sink writes to another system and the source's topic is not ours: neither is here
    assert topics == [
        {
            "name": "orders.big.v1",
            "partitions": 12,
            "replication_factor": 3,
            "config": {"cleanup.policy": "delete", "retention.ms": "604800000"},
        },
        {
            "name": "totals",
            "partitions": 6,
            "replication_factor": None,
            "config": {"cleanup.policy": "delete", "retention.ms": "86400000"},
        },
    ]


def test_undeclared_topic_settings_stay_null(sluice_project):
    project = compiled(
        sluice_project,
        PROJECT.replace(
            DEFAULTS,
            "  {}\n",
        ).replace("defaults:\n  {}\n", ""),
    )
    topics = json.loads((project.path / "target" / "kafka" / "topics.json").read_text())
    assert topics[1] == {
        "name": "totals",
        "partitions": None,
        "replication_factor": None,
        "config": {},
    }


def test_a_source_asks_plan_to_check_its_topic_exists(sluice_project):
    project = compiled(sluice_project)
    artifacts = project.manifest()["nodes"]["source.orders"]["artifacts"]
    assert artifacts == [
        {
            "plugin": "kafka",
            "kind": "source_topic",
            "name": "orders.v1",
            "spec": {"name": "orders.v1", "must_exist": True},
            "file": None,
        }
    ]


def _labels(project) -> dict[str, set[str]]:
    """acls.json as node -> the labels of its bindings."""
    from sluice_kafka.acls import Binding

    acls = json.loads((project.path / "target" / "kafka" / "acls.json").read_text())
    return {a["node"]: {Binding.from_spec(b).label() for b in a["bindings"]} for a in acls}


def test_access_becomes_acl_bindings_on_the_topic_and_the_readers_groups(sluice_project):
    project = compiled(sluice_project)
    # no SASL user in runtime.kafka: sluice's own principal is unknown and gets nothing
    assert _labels(project) == {
        "model.big_orders": {
            "User:audit READ topic orders.big.v1",
            "User:audit DESCRIBE topic orders.big.v1",
            "User:audit READ group audit.*",
            "User:fraud-svc READ topic orders.big.v1",
            "User:fraud-svc DESCRIBE topic orders.big.v1",
            "User:fraud-svc READ group fraud-svc.*",
            "User:loader WRITE topic orders.big.v1",
            "User:loader DESCRIBE topic orders.big.v1",
        }
    }


SASL_KAFKA = (
    '  kafka: { bootstrap_servers: "broker:9092", security_protocol: SASL_PLAINTEXT,\n'
    "           sasl_mechanism: PLAIN, sasl_username: deployer, sasl_password: pw"
)
ACCESS_LINE = '    access: { read: ["User:fraud-svc", "User:audit"], write: ["User:loader"] }\n'


def _sasl(text: str, own_acls: str = "") -> str:
    setting = f", own_acls: {own_acls}" if own_acls else ""
    return text.replace('  kafka: { bootstrap_servers: "broker:9092"', SASL_KAFKA + setting)


def test_sluices_own_jobs_and_sinks_get_what_they_read_and_write(sluice_project):
    project = compiled(sluice_project, _sasl(PROJECT))
    labels = _labels(project)
    # the topic model's job: reads the source, writes its topic, groups and transactional
    # ids under sluice.<project>.
    own = {label for label in labels["model.big_orders"] if label.startswith("User:deployer")}
    assert own == {
        "User:deployer READ topic orders.v1",
        "User:deployer DESCRIBE topic orders.v1",
        "User:deployer WRITE topic orders.big.v1",
        "User:deployer DESCRIBE topic orders.big.v1",
        "User:deployer READ group sluice.shop.*",
        "User:deployer WRITE transactional_id sluice.shop.*",
        "User:deployer DESCRIBE transactional_id sluice.shop.*",
    }
    assert "User:deployer WRITE topic totals" in labels["model.totals"]
    # the sink reads totals with Kafka Connect's group connect-<connector name>
    assert labels["model.to_files"] == {
        "User:deployer READ topic totals",
        "User:deployer DESCRIBE topic totals",
        "User:deployer READ group connect-shop-to_files",
    }
    acls = json.loads((project.path / "target" / "kafka" / "acls.json").read_text())
    names = {a["node"]: a for a in acls}
    assert set(names) == {"model.big_orders", "model.totals", "model.to_files"}
    artifacts = project.manifest()["nodes"]["model.to_files"]["artifacts"]
    assert [a["name"] for a in artifacts if a["kind"] == "acls"] == ["sink:to_files"]


def test_without_access_anywhere_sluices_own_bindings_wait_for_own_acls_always(sluice_project):
    quiet = _sasl(PROJECT.replace(ACCESS_LINE, ""))
    project = compiled(sluice_project, quiet)
    assert not (project.path / "target" / "kafka" / "acls.json").exists()

    project = compiled(sluice_project, _sasl(PROJECT.replace(ACCESS_LINE, ""), "always"))
    assert set(_labels(project)) == {"model.big_orders", "model.totals", "model.to_files"}

    project = compiled(sluice_project, _sasl(PROJECT, "never"))
    assert all(
        not label.startswith("User:deployer")
        for labels in _labels(project).values()
        for label in labels
    )


def test_a_sources_access_and_a_readers_own_group_prefix(sluice_project):
    text = PROJECT.replace(
        '      - { name: amount, type: "DECIMAL(12,2)" }\nmodels:',
        '      - { name: amount, type: "DECIMAL(12,2)" }\n'
        "    access:\n"
        "      read: [{ principal: User:audit, group_prefix: audit-jobs- }]\n"
        "      write: [User:shop-app]\n"
        "models:",
    )
    assert text != PROJECT
    labels = _labels(compiled(sluice_project, text))
    assert labels["source.orders"] == {
        "User:audit READ topic orders.v1",
        "User:audit DESCRIBE topic orders.v1",
        "User:audit READ group audit-jobs-*",
        "User:shop-app WRITE topic orders.v1",
        "User:shop-app DESCRIBE topic orders.v1",
    }


def test_own_acls_always_needs_to_know_the_principal(sluice_project):
    text = PROJECT.replace(
        '  kafka: { bootstrap_servers: "broker:9092" }',
        '  kafka: { bootstrap_servers: "broker:9092", own_acls: always }',
    )
    result = sluice_project({"stream_project.yml": text}).run("validate")
    assert result.exit_code == 1
    assert "own_acls: always needs to know sluice's principal" in result.output


def test_a_group_prefix_for_somebody_who_is_not_a_reader_is_an_error(sluice_project):
    text = PROJECT.replace(
        ACCESS_LINE,
        '    access: { read: ["User:audit"], group_prefixes: { "User:fraud-svc": "f-" } }\n',
    )
    result = sluice_project({"stream_project.yml": text}).run("validate")
    assert result.exit_code == 1
    assert "group_prefixes names 'User:fraud-svc', which is not a reader" in result.output


def test_passwords_never_reach_target(sluice_project):
    text = PROJECT.replace(
        '  kafka: { bootstrap_servers: "broker:9092" }',
        "  kafka:\n"
        '    bootstrap_servers: "broker:9093"\n'
        "    security_protocol: SASL_SSL\n"
        "    sasl_mechanism: PLAIN\n"
        "    sasl_username: app\n"
        "    sasl_password: ${KAFKA_PASSWORD}\n"
        "    ssl_key_password: ${KEY_PASSWORD}",
    )
    project = sluice_project({"stream_project.yml": text})
    env = {"KAFKA_PASSWORD": "pw-kafka-1", "KEY_PASSWORD": "pw-key-2"}
    assert project.run("compile", env=env).exit_code == 0
    files = [p for p in (project.path / "target").rglob("*") if p.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        assert b"pw-kafka-1" not in content and b"pw-key-2" not in content, path


def test_sasl_without_a_mechanism_is_an_error(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": """
        project: { name: shop }
        runtime:
          kafka: { bootstrap_servers: "broker:9093", security_protocol: SASL_SSL }
        """
        }
    )
    result = project.run("validate")
    assert result.exit_code != 0
    assert "security_protocol SASL_SSL needs sasl_mechanism" in result.output
    assert "stream_project.yml:3:" in result.output


def test_bootstrap_servers_must_be_host_port(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": """
        project: { name: shop }
        runtime:
          kafka: { bootstrap_servers: "broker" }
        """
        }
    )
    result = project.run("validate")
    assert result.exit_code != 0
    assert "'broker' is not host:port" in result.output


KAFKA_ONLY = {"SLUICE_DISABLE_PLUGINS": "flink,connect,conduktor,webhook"}

TOPICS_ONLY = """
project: { name: shop }
runtime:
  kafka: { bootstrap_servers: "localhost:9092" }
models:
  - name: orders
    description: Orders the shop service writes itself
    materialized: topic
    topic: { partitions: 3 }
    columns:
      - { name: id, type: STRING }
"""


def test_a_kafka_only_team_declares_topics_without_sql(sluice_project):
    project = sluice_project({"stream_project.yml": TOPICS_ONLY})

    result = project.run("compile", env=KAFKA_ONLY)

    assert result.exit_code == 0, result.output
    topics = json.loads((project.path / "target" / "kafka" / "topics.json").read_text())
    assert topics == [{"config": {}, "name": "orders", "partitions": 3, "replication_factor": None}]
    assert project.manifest()["nodes"]["model.orders"]["columns"] == [
        {"name": "id", "type": "STRING"}
    ]


def test_a_transforming_model_without_the_flink_plugin_names_what_to_install(sluice_project):
    text = (
        TOPICS_ONLY
        + """
  - name: big_orders
    materialized: topic
    sql: SELECT id FROM {{ ref("orders") }} WHERE id > 'a'
"""
    )
    project = sluice_project({"stream_project.yml": text})

    result = project.run("compile", env=KAFKA_ONLY)

    assert result.exit_code == 1
    assert result.stderr == (
        "error: stream_project.yml:13:19: model 'big_orders': materialized: topic needs the "
        "capability 'stream_jobs', which no configured plugin provides\n"
        "  hint: pip install sluice-flink and configure runtime.flink\n"
    )


def test_an_installed_plugin_that_fails_to_load_is_not_called_uninstalled(
    sluice_project, monkeypatch
):
    import sys

    monkeypatch.setitem(sys.modules, "sluice_kafka.plugin", None)  # its import now fails
    project = sluice_project(
        {
            "stream_project.yml": "project: { name: shop }\nruntime:\n  kafka: { bootstrap_servers: b:9092 }\n"
        }
    )

    result = project.run("validate")

    assert result.exit_code == 1
    assert result.output == (
        "error: stream_project.yml:3:3: runtime.kafka needs the plugin distribution "
        "'sluice-kafka', which is installed but failed to load\n"
        "  hint: run sluice plugins to see its error, then reinstall it or fix what it imports\n"
    )
