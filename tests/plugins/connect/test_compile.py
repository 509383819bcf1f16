"""sluice-connect at compile time: the connector configs a project's sinks compile into."""

from __future__ import annotations

import json

PROJECT = """
project: { name: shop }
runtime:
  kafka: { bootstrap_servers: "broker:9092" }
  schema_registry: { url: "http://registry:8081" }
  flink: { rest_url: "http://flink:8081" }
  connect: { rest_url: "http://connect:8083" }
sources:
  - name: orders
    topic: orders.v1
    columns: [{ name: order_id, type: STRING }, { name: amount, type: "DECIMAL(12,2)" }]
  - name: refunds
    topic: refunds.v1
    format: avro
models:
"""


def run(sluice_project, models: str, env: dict[str, str] | None = None):
    project = sluice_project({"stream_project.yml": PROJECT + models})
    return project, project.run("compile", env=env)


def connector_file(project, name: str) -> dict:
    return json.loads((project.path / "target" / "connect" / f"{name}.json").read_text())


def test_a_json_sink_gets_its_topics_and_json_converters(sluice_project):
    project, result = run(
        sluice_project,
        """
  - name: orders_to_db
    from: orders
    connector:
      class: jdbc
      tasks_max: 2
      config: { connection.url: "jdbc:postgresql://db/shop", insert.mode: upsert }
""",
    )
    assert result.exit_code == 0, result.output
    assert connector_file(project, "shop-orders_to_db") == {
        "name": "shop-orders_to_db",
        "config": {
            "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
            "tasks.max": "2",
            "topics": "orders.v1",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            # a table needs typed columns: the converter takes them from the source's columns
            "value.converter.schemas.enable": "true",
            "value.converter.schema.content": json.dumps(
                {
                    "type": "struct",
                    "optional": False,
                    "fields": [
                        {"field": "order_id", "optional": True, "type": "string"},
                        {
                            "field": "amount",
                            "optional": True,
                            "type": "bytes",
                            "name": "org.apache.kafka.connect.data.Decimal",
                            "version": 1,
                            "parameters": {"scale": "2", "connect.decimal.precision": "12"},
                        },
                    ],
                },
                separators=(",", ":"),
            ),
            "connection.url": "jdbc:postgresql://db/shop",
            "insert.mode": "upsert",
        },
    }
    assert project.manifest()["nodes"]["model.orders_to_db"]["materialized"] == "sink"


def test_a_table_sink_of_untyped_json_is_an_error_that_says_what_to_declare(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT.replace(
                '{ name: amount, type: "DECIMAL(12,2)" }', "{ name: amount }"
            )
            + """
  - name: orders_to_db
    from: orders
    connector: { class: jdbc, config: { connection.url: "jdbc:postgresql://db/shop" } }
"""
        }
    )
    result = project.run("compile")
    assert result.exit_code == 1
    assert "sink 'orders_to_db' writes rows to a table, which needs the type of every column" in (
        result.output
    )
    assert "declare columns with types on the source it reads" in result.output


def test_a_table_sink_keeps_the_converter_settings_it_declares(sluice_project):
    project, result = run(
        sluice_project,
        """
  - name: orders_to_db
    from: orders
    connector:
      class: jdbc
      config: { connection.url: "jdbc:postgresql://db/shop", value.converter.schemas.enable: "true" }
""",
    )
    assert result.exit_code == 0, result.output
    config = connector_file(project, "shop-orders_to_db")["config"]
    assert config["value.converter.schemas.enable"] == "true"
    assert "value.converter.schema.content" not in config


def test_an_avro_sink_uses_the_registry_converters(sluice_project):
    project, result = run(
        sluice_project,
        """
  - name: refunds_to_file
    from: refunds
    connector: { class: file, config: { file: /tmp/refunds.txt } }
""",
    )
    assert result.exit_code == 0, result.output
    config = connector_file(project, "shop-refunds_to_file")["config"]
    assert config == {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "tasks.max": "1",
        "topics": "refunds.v1",
        "key.converter": "io.confluent.connect.avro.AvroConverter",
        "key.converter.schema.registry.url": "http://registry:8081",
        "value.converter": "io.confluent.connect.avro.AvroConverter",
        "value.converter.schema.registry.url": "http://registry:8081",
        "file": "/tmp/refunds.txt",
    }


def test_variable_references_stay_unresolved_and_secrets_never_reach_target(sluice_project):
    env = {"DB_URL": "jdbc:postgresql://db/shop?password=url-secret-1", "DB_PASSWORD": "pw-2"}
    project, result = run(
        sluice_project,
        """
  - name: orders_to_db
    from: orders
    connector:
      class: io.debezium.connector.jdbc.JdbcSinkConnector
      config:
        connection.url: ${DB_URL}
        connection.password: ${DB_PASSWORD}
""",
        env,
    )
    assert result.exit_code == 0, result.output
    config = connector_file(project, "shop-orders_to_db")["config"]
    assert config["connection.url"] == "${DB_URL}"
    assert config["connection.password"] == "${DB_PASSWORD}"
    for path in (project.path / "target").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert b"url-secret-1" not in content and b"pw-2" not in content, path


def test_a_literal_password_in_connector_config_is_refused(sluice_project):
    _, result = run(
        sluice_project,
        """
  - name: orders_to_db
    from: orders
    connector: { class: jdbc, config: { connection.password: hunter2 } }
""",
    )
    assert result.exit_code != 0
    assert result.output == (
        "error: stream_project.yml:18:62: model 'orders_to_db': connector config "
        "'connection.password' holds a literal secret, which would be written to target/\n"
        "  hint: reference an environment variable instead: connection.password: ${MY_SECRET}\n"
    )


def test_an_unknown_short_class_name_suggests_the_closest(sluice_project):
    _, result = run(
        sluice_project,
        """
  - name: orders_to_db
    from: orders
    connector:
      class: jbdc
""",
    )
    assert result.exit_code != 0
    assert result.output == (
        "error: stream_project.yml:19:14: model 'orders_to_db': unknown connector class 'jbdc'\n"
        "  hint: did you mean 'jdbc'?\n"
    )


def test_a_sink_without_a_connector_block_is_an_error(sluice_project):
    _, result = run(sluice_project, "\n  - name: orders_out\n    from: orders\n")
    assert result.exit_code != 0
    assert "model 'orders_out' is a sink but has no connector: block" in result.output


def test_a_source_with_a_connector_compiles_a_source_connector(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": """
                project: { name: shop }
                runtime:
                  kafka: { bootstrap_servers: "broker:9092" }
                  connect: { rest_url: "http://connect:8083" }
                sources:
                  - name: customers
                    topic: pg.public.customers
                    connector:
                      class: debezium-postgres
                      config: { database.hostname: db, topic.prefix: pg }
                """
        }
    )
    result = project.run("compile")
    assert result.exit_code == 0, result.output
    config = connector_file(project, "shop-customers")["config"]
    assert config["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert config["topic.prefix"] == "pg"
    assert "topics" not in config
    (check,) = [
        a
        for a in project.manifest()["nodes"]["source.customers"]["artifacts"]
        if a["kind"] == "source_topic"
    ]
    assert check["spec"] == {"name": "pg.public.customers", "must_exist": False}


def test_a_sink_with_a_key_and_a_dlq_gets_upserts_and_a_dead_letter_queue(sluice_project):
    project, result = run(
        sluice_project,
        """
  - name: orders_to_db
    from: orders
    key: [order_id]
    dlq: orders.dlq
    connector: { class: jdbc, config: { connection.url: "jdbc:postgresql://db/shop" } }
""",
    )
    assert result.exit_code == 0, result.output
    spec = connector_file(project, "shop-orders_to_db")
    config = spec["config"]
    assert (config["insert.mode"], config["primary.key.mode"]) == ("upsert", "record_value")
    assert config["primary.key.fields"] == "order_id"
    assert config["errors.tolerance"] == "all"
    assert config["errors.deadletterqueue.topic.name"] == "orders.dlq"
    assert config["errors.deadletterqueue.context.headers.enable"] == "true"
    assert spec["dlq"]["topic"] == "orders.dlq"


def test_a_dlq_on_a_model_that_is_no_sink_is_refused(sluice_project):
    _, result = run(
        sluice_project,
        """
  - name: big_orders
    materialized: flink
    dlq: orders.dlq
    sql: SELECT order_id FROM {{ source("orders") }}
""",
    )
    assert result.exit_code == 1
    assert "has dlq:, which only sinks support" in result.output


def test_a_sink_of_an_exactly_once_model_reads_committed_records_only(sluice_project):
    sink = """
  - name: {name}
    from: {upstream}
    connector: {{ class: file, config: {{ file: /tmp/out.txt }} }}
"""
    project, result = run(
        sluice_project,
        """
  - name: exact
    materialized: topic
    sql: SELECT order_id, amount FROM {{ source("orders") }}
    flink: { delivery: exactly-once }
  - name: loose
    materialized: topic
    sql: SELECT order_id, amount FROM {{ source("orders") }}
"""
        + sink.format(name="exact_out", upstream="exact")
        + sink.format(name="loose_out", upstream="loose"),
    )

    assert result.exit_code == 0, result.output
    exact = connector_file(project, "shop-exact_out")["config"]
    loose = connector_file(project, "shop-loose_out")["config"]
    assert exact["consumer.override.isolation.level"] == "read_committed"
    assert "consumer.override.isolation.level" not in loose
