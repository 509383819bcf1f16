"""sluice-flink at compile time: given a project, which Flink SQL lands in target/flink/."""

from __future__ import annotations

from pathlib import Path

import pytest

import sluice.session

PROJECT = """
project: { name: shop }
runtime:
  kafka: { bootstrap_servers: "broker:9092" }
  flink: { rest_url: "http://flink:8081" }
sources:
  - name: orders
    topic: orders.v1
    event_time: { column: ts, watermark: 5s }
    columns:
      - { name: order_id, type: STRING }
      - { name: customer, type: STRING }
      - { name: amount, type: "DECIMAL(12,2)" }
      - { name: ts, type: "TIMESTAMP(3)" }
models:
"""


def compile_ok(sluice_project, models: str, env: dict[str, str] | None = None) -> Path:
    project = sluice_project({"stream_project.yml": PROJECT + models})
    result = project.run("compile", env=env)
    assert result.exit_code == 0, result.output
    return project.path / "target" / "flink"


def compile_error(sluice_project, text: str) -> str:
    project = sluice_project({"stream_project.yml": text})
    result = project.run("compile")
    assert result.exit_code != 0
    return result.output


def test_a_stateless_filter_reads_the_source_with_its_watermark(sluice_project):
    target = compile_ok(
        sluice_project,
        """
  - name: big_orders
    sql: SELECT order_id, amount, ts FROM {{ source("orders") }} WHERE amount > 100
""",
    )
    assert (
        (target / "big_orders.sql").read_text()
        == """\
SET 'pipeline.name' = 'sluice.shop.big_orders';

SET 'execution.checkpointing.interval' = '10000 ms';

CREATE TEMPORARY TABLE `orders` (
  `order_id` STRING,
  `customer` STRING,
  `amount` DECIMAL(12,2),
  `ts` TIMESTAMP(3),
  WATERMARK FOR `ts` AS `ts` - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'orders.v1',
  'properties.bootstrap.servers' = 'broker:9092',
  'properties.group.id' = 'sluice.shop.big_orders',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'false',
  'scan.watermark.idle-timeout' = '30 s'
);

CREATE TEMPORARY TABLE `big_orders` (
  `order_id` STRING,
  `amount` DECIMAL(12,2),
  `ts` TIMESTAMP(3)
) WITH (
  'connector' = 'kafka',
  'topic' = 'big_orders',
  'properties.bootstrap.servers' = 'broker:9092',
  'format' = 'json'
);

INSERT INTO `big_orders`
SELECT order_id, amount, ts FROM `orders` WHERE amount > 100;
"""
    )


def test_the_job_artifact_names_the_pipeline_and_hashes_its_statements(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT
            + """
  - name: big_orders
    sql: SELECT order_id, amount FROM {{ source("orders") }} WHERE amount > 100
    flink:
      parallelism: 4
      upgrade: stateless
      state_ttl: 1h
      config: { table.exec.mini-batch.enabled: true }
"""
        }
    )
    assert project.run("compile").exit_code == 0
    artifacts = project.manifest()["nodes"]["model.big_orders"]["artifacts"]
    (job,) = [a for a in artifacts if a["plugin"] == "flink"]
    assert (job["plugin"], job["kind"], job["name"]) == ("flink", "job", "sluice.shop.big_orders")
    spec = job["spec"]
    assert spec["pipeline_name"] == "sluice.shop.big_orders"
    assert (spec["parallelism"], spec["upgrade"]) == (4, "stateless")
    assert spec["statements"][:5] == [
        "SET 'pipeline.name' = 'sluice.shop.big_orders'",
        "SET 'parallelism.default' = '4'",
        # sources commit offsets on checkpoints, so a stateless restart resumes where it was
        "SET 'execution.checkpointing.interval' = '10000 ms'",
        "SET 'table.exec.state.ttl' = '3600000 ms'",
        "SET 'table.exec.mini-batch.enabled' = 'true'",
    ]
    assert len(spec["spec_hash"]) == 64


def test_a_window_aggregation_appends_to_a_kafka_table(sluice_project):
    target = compile_ok(
        sluice_project,
        """
  - name: per_minute
    sql: |
      SELECT customer, COUNT(*) AS n, window_start, window_end
      FROM TABLE(TUMBLE(TABLE {{ source("orders") }}, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
      GROUP BY customer, window_start, window_end
""",
    )
    statements = (target / "per_minute.sql").read_text().split(";\n\n")
    assert (
        statements[-2]
        == """\
CREATE TEMPORARY TABLE `per_minute` (
  `customer` STRING,
  `n` BIGINT,
  `window_start` TIMESTAMP(3),
  `window_end` TIMESTAMP(3)
) WITH (
  'connector' = 'kafka',
  'topic' = 'per_minute',
  'properties.bootstrap.servers' = 'broker:9092',
  'format' = 'json'
)"""
    )
    assert (
        statements[-1]
        == """\
INSERT INTO `per_minute`
SELECT customer, COUNT(*) AS n, window_start, window_end
FROM TABLE(TUMBLE(TABLE `orders`, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY customer, window_start, window_end;
"""
    )


def test_a_group_by_without_window_upserts_keyed_by_the_group_columns(sluice_project):
    target = compile_ok(
        sluice_project,
        """
  - name: totals
    sql: SELECT customer AS who, SUM(amount) AS total FROM {{ source("orders") }} GROUP BY customer
""",
    )
    statements = (target / "totals.sql").read_text().split(";\n\n")
    assert (
        statements[-2]
        == """\
CREATE TEMPORARY TABLE `totals` (
  `who` STRING,
  `total` DECIMAL(38,2),
  PRIMARY KEY (`who`) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = 'totals',
  'properties.bootstrap.servers' = 'broker:9092',
  'key.format' = 'json',
  'value.format' = 'json',
  'value.fields-include' = 'ALL'
)"""
    )


def test_a_model_reading_an_upsert_topic_reads_and_writes_it_as_upsert(sluice_project):
    target = compile_ok(
        sluice_project,
        """
  - name: totals
    sql: SELECT customer, SUM(amount) AS total FROM {{ source("orders") }} GROUP BY customer
  - name: big_spenders
    sql: SELECT customer, total FROM {{ ref("totals") }} WHERE total > 1000
""",
    )
    statements = (target / "big_spenders.sql").read_text().split(";\n\n")
    assert statements[2].startswith("""\
CREATE TEMPORARY TABLE `totals` (
  `customer` STRING,
  `total` DECIMAL(38,2),
  PRIMARY KEY (`customer`) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',""")
    assert "PRIMARY KEY (`customer`) NOT ENFORCED" in statements[3]
    assert "'connector' = 'upsert-kafka'" in statements[3]


def test_event_time_passes_through_a_filter_to_a_downstream_window(sluice_project):
    target = compile_ok(
        sluice_project,
        """
  - name: clean
    sql: SELECT order_id, amount, ts FROM {{ source("orders") }} WHERE amount > 0
  - name: per_minute
    sql: |
      SELECT COUNT(*) AS n, window_start, window_end
      FROM TABLE(TUMBLE(TABLE {{ ref("clean") }}, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
      GROUP BY window_start, window_end
""",
    )
    reading_clean = (target / "per_minute.sql").read_text().split(";\n\n")[2]
    assert "  WATERMARK FOR `ts` AS `ts` - INTERVAL '5' SECOND\n" in reading_clean


def test_odd_identifiers_are_quoted(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": """
        project: { name: shop }
        runtime:
          kafka: { bootstrap_servers: "broker:9092" }
          flink: { rest_url: "http://flink:8081" }
        sources:
          - name: clicks
            topic: clicks.v1
            columns:
              - { name: "user id", type: STRING }
              - { name: "odd`name", type: INT }
        models:
          - name: odd
            materialized: flink
            sql: SELECT `user id`, `odd``name` FROM {{ source("clicks") }} WHERE `odd``name` > 0
        """
        }
    )
    assert project.run("compile").exit_code == 0
    text = (project.path / "target" / "flink" / "odd.sql").read_text()
    assert "CREATE TEMPORARY TABLE `clicks` (\n  `user id` STRING,\n  `odd``name` INT\n)" in text
    assert "CREATE TEMPORARY TABLE `odd` (\n  `user id` STRING,\n  `odd``name` INT\n)" in text


def test_secrets_become_markers_and_never_reach_target(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": """
        project: { name: shop }
        runtime:
          kafka:
            bootstrap_servers: "broker:9093"
            security_protocol: SASL_SSL
            sasl_mechanism: SCRAM-SHA-512
            sasl_username: app
            sasl_password: ${KAFKA_PASSWORD}
          schema_registry:
            url: "http://registry:8081"
            basic_auth_user: sr
            basic_auth_password: ${SR_PASSWORD}
          flink: { rest_url: "http://flink:8081" }
        sources:
          - name: clicks
            topic: clicks.v1
            format: avro
            columns: [{ name: page, type: STRING }]
        models:
          - name: pages
            sql: SELECT page FROM {{ source("clicks") }}
        """
        }
    )
    env = {"KAFKA_PASSWORD": "kafka-pw-123", "SR_PASSWORD": "sr-pw-456"}
    assert project.run("compile", env=env).exit_code == 0
    text = (project.path / "target" / "flink" / "pages.sql").read_text()
    assert (
        "  'properties.sasl.jaas.config' = 'org.apache.flink.kafka.shaded.org.apache.kafka."
        'common.security.scram.ScramLoginModule required username="app" '
        'password="{{secret:kafka.sasl_password}}";\',\n'
    ) in text
    assert (
        "  'avro-confluent.basic-auth.user-info' = "
        "'sr:{{secret:schema_registry.basic_auth_password}}'" in text
    )
    assert (
        "  'format' = 'avro-confluent',\n  'avro-confluent.url' = 'http://registry:8081'," in text
    )
    for path in (project.path / "target").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert b"kafka-pw-123" not in content and b"sr-pw-456" not in content, path


def test_a_source_without_columns_read_by_a_job_is_an_error(sluice_project):
    output = compile_error(
        sluice_project,
        """
        project: { name: shop }
        runtime:
          kafka: { bootstrap_servers: "broker:9092" }
          flink: { rest_url: "http://flink:8081" }
        sources:
          - name: clicks
            topic: clicks.v1
        models:
          - name: pages
            materialized: flink
            sql: SELECT page FROM {{ source("clicks") }}
        """,
    )
    assert output == (
        "error: stream_project.yml:9:11: model 'pages' reads source 'clicks' in a Flink job, "
        "but 'clicks' declares no columns\n"
        "  hint: declare columns: (name and type of each field) on source 'clicks' at "
        "stream_project.yml:6:11\n"
    )


# LISTAGG and JSON_ARRAYAGG are aggregates sqlglot does not know: they were compiled into an
# append-only job, which Flink refused at apply
@pytest.mark.parametrize("aggregate", ["COUNT(*)", "LISTAGG(order_id)", "JSON_ARRAYAGG(amount)"])
def test_an_updating_query_without_a_key_is_an_error(sluice_project, aggregate: str):
    output = compile_error(
        sluice_project,
        PROJECT
        + f"""
  - name: how_many
    sql: SELECT {aggregate} AS n FROM {{{{ source("orders") }}}}
""",
    )
    assert output == (
        "error: stream_project.yml:16:11: model 'how_many': its query updates rows it has "
        "already emitted, so its topic is written with upsert-kafka, which needs a primary "
        "key, and no GROUP BY column of the output can serve as one\n"
        "  hint: declare the output columns that identify a row with key: [col, ...]\n"
    )


def test_a_declared_key_is_the_primary_key(sluice_project):
    target = compile_ok(
        sluice_project,
        """
  - name: how_many
    key: [n]
    sql: SELECT COUNT(*) AS n FROM {{ source("orders") }}
""",
    )
    assert "PRIMARY KEY (`n`) NOT ENFORCED" in (target / "how_many.sql").read_text()


def test_a_call_of_a_function_flink_does_not_have_is_an_error_at_the_call(sluice_project):
    # Flink would refuse the job when apply submits it: "No match found for function signature"
    output = compile_error(
        sluice_project,
        PROJECT
        + """
  - name: days
    sql: |
      SELECT order_id,
             DATE_FORMT(ts, 'yyyy-MM-dd') AS day_text
      FROM {{ source("orders") }}
""",
    )
    assert output == (
        "error: stream_project.yml:19:14: model 'days': Flink SQL has no function 'DATE_FORMT'\n"
        "  hint: did you mean 'DATE_FORMAT'? Or, if your Flink cluster has it from a catalog or "
        "a module, list it in runtime.flink.functions\n"
    )


def test_functions_the_cluster_has_besides_flinks_are_listed_in_runtime_flink(sluice_project):
    models = """
  - name: tagged
    columns: [{ name: tag, type: STRING }]
    sql: |
      SELECT order_id, my_udf(customer) AS tag,
             TIMESTAMPDIFF(SECOND, ts, TIMESTAMPADD(DAY, 1, ts)) AS horizon
      FROM {{ source("orders") }}
"""
    refused = compile_error(sluice_project, PROJECT + models)
    assert "model 'tagged': Flink SQL has no function 'my_udf'" in refused
    listed = PROJECT.replace(
        'flink: { rest_url: "http://flink:8081" }',
        'flink: { rest_url: "http://flink:8081", functions: [MY_UDF] }',
    )
    project = sluice_project({"stream_project.yml": listed + models})

    result = project.run("compile")

    assert result.exit_code == 0, result.output
    job = (project.path / "target" / "flink" / "tagged.sql").read_text(encoding="utf-8")
    assert "my_udf(customer) AS tag," in job
    assert "`horizon` INT" in job  # TIMESTAMPDIFF gives an INT


def test_an_output_column_of_unknown_type_is_an_error(sluice_project):
    output = compile_error(
        sluice_project,
        PROJECT.replace(
            'rest_url: "http://flink:8081"', 'rest_url: "http://flink:8081", functions: [my_udf]'
        )
        + """
  - name: tagged
    sql: SELECT order_id, my_udf(customer) AS tag FROM {{ source("orders") }}
""",
    )
    assert output == (
        "error: stream_project.yml:16:11: model 'tagged': the type of output column 'tag' is "
        "unknown\n"
        "  hint: declare it in columns: with a type, e.g. - { name: tag, type: STRING }\n"
    )


def test_runtime_flink_needs_an_http_url(sluice_project):
    output = compile_error(
        sluice_project,
        """
        project: { name: shop }
        runtime:
          flink: { rest_url: "flink:8081" }
        """,
    )
    assert "runtime.flink: rest_url: 'flink:8081' is not an http:// or https:// URL" in output


def test_an_exactly_once_job_writes_in_transactions_and_its_readers_read_committed(
    sluice_project,
):
    target = compile_ok(
        sluice_project,
        """
  - name: big_orders
    flink: { delivery: exactly-once }
    sql: SELECT order_id, amount, ts FROM {{ source("orders") }} WHERE amount > 100
  - name: per_minute
    sql: |
      SELECT window_start, COUNT(*) AS orders
      FROM TABLE(TUMBLE(TABLE {{ ref("big_orders") }}, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
      GROUP BY window_start, window_end
""",
    )
    writer = (target / "big_orders.sql").read_text()
    assert "'sink.delivery-guarantee' = 'exactly-once'" in writer
    # one prefix per job: two jobs sharing one would fence each other's transactions
    assert "'sink.transactional-id-prefix' = 'sluice.shop.big_orders'" in writer
    assert "'properties.transaction.timeout.ms' = '600000'" in writer
    assert "isolation.level" not in writer  # the source is not written in transactions
    reader = (target / "per_minute.sql").read_text()
    assert "'properties.isolation.level' = 'read_committed'" in reader
    assert "sink.delivery-guarantee" not in reader  # per_minute keeps the default


def test_runtime_flink_delivery_is_every_jobs_default(sluice_project):
    project = sluice_project(
        {
            "stream_project.yml": PROJECT.replace(
                'flink: { rest_url: "http://flink:8081" }',
                'flink: { rest_url: "http://flink:8081", delivery: exactly-once }',
            )
            + """
  - name: big_orders
    sql: SELECT order_id, amount, ts FROM {{ source("orders") }} WHERE amount > 100
  - name: small_orders
    flink: { delivery: at-least-once }
    sql: SELECT order_id, amount, ts FROM {{ source("orders") }} WHERE amount <= 100
"""
        }
    )
    assert project.run("compile").exit_code == 0
    target = project.path / "target" / "flink"
    assert "'sink.delivery-guarantee' = 'exactly-once'" in (target / "big_orders.sql").read_text()
    assert "sink.delivery-guarantee" not in (target / "small_orders.sql").read_text()


# -- mask_fallback: materialize -----------------------------------------------------------------

MASKED_MODEL = """
  - name: masked_orders
    sql: SELECT order_id, customer, amount FROM {{ source("orders") }}
    mask_fallback: materialize
    mask:
"""


def test_mask_fallback_wraps_the_query_in_the_masking_projection(sluice_project):
    target = compile_ok(
        sluice_project,
        MASKED_MODEL
        + "      order_id: { rule: mask_last, keep: 4, char: X }\n"
        + "      customer: { rule: mask_all }\n"
        + "      amount: { rule: 'null' }\n",
    )

    insert = (target / "masked_orders.sql").read_text().split(";\n\n")[-1]
    assert insert == (
        "INSERT INTO `masked_orders`\n"
        "SELECT\n"
        "  CONCAT(SUBSTRING(`order_id` FROM 1 FOR GREATEST(CHAR_LENGTH(`order_id`) - 4, 0)), "
        "REPEAT('X', LEAST(CHAR_LENGTH(`order_id`), 4))) AS `order_id`,\n"
        "  REPEAT('*', CHAR_LENGTH(`customer`)) AS `customer`,\n"
        "  CAST(NULL AS DECIMAL(12,2)) AS `amount`\n"
        "FROM (\n"
        "SELECT order_id, customer, amount FROM `orders`\n"
        ") AS `__sluice_unmasked`;\n"
    )


def test_mask_first_masks_the_first_characters_and_keeps_the_rest(sluice_project):
    target = compile_ok(
        sluice_project, MASKED_MODEL + "      customer: { rule: mask_first, keep: 2 }\n"
    )

    assert (
        "  CONCAT(REPEAT('*', LEAST(CHAR_LENGTH(`customer`), 2)), "
        "SUBSTRING(`customer` FROM 2 + 1)) AS `customer`,\n"
    ) in (target / "masked_orders.sql").read_text()


def test_a_character_rule_on_a_number_is_an_error(sluice_project):
    output = compile_error(
        sluice_project, PROJECT + MASKED_MODEL + "      amount: { rule: mask_all }\n"
    )

    assert output == (
        "error: stream_project.yml:20:15: model 'masked_orders': mask rule 'mask_all' of column "
        "'amount' replaces characters, but the column is DECIMAL(12,2), not text\n"
        "  hint: use {rule: null}, or CAST(amount AS STRING) in the model's SQL\n"
    )


def test_a_masked_key_column_is_an_error(sluice_project):
    output = compile_error(
        sluice_project,
        PROJECT + MASKED_MODEL + "      order_id: { rule: mask_all }\n" + "    key: [order_id]\n",
    )

    assert output == (
        "error: stream_project.yml:20:17: model 'masked_orders': mask_fallback: materialize "
        "cannot mask key column 'order_id': the records' key would change with it\n"
        "  hint: mask a column that is not part of key:, or key the model by another column\n"
    )


@pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper"])
def test_a_compile_that_fails_downstream_leaves_every_job_file_as_it_was(
    sluice_project, monkeypatch: pytest.MonkeyPatch, helper: bool
):
    # the job of `big` is compiled, and its file handed to the writer, before `bad` fails
    monkeypatch.setattr(sluice.session, "HELPER_FROM_NODES", 0 if helper else 10**9)
    models = """
  - name: big
    sql: SELECT order_id, amount, ts FROM {{ source("orders") }} WHERE amount > 100
  - name: bad
    sql: SELECT order_id FROM {{ ref("big") }}
"""
    target = compile_ok(sluice_project, models)
    before = {p.name: p.read_text() for p in target.iterdir()}
    project = sluice_project(
        {
            "stream_project.yml": PROJECT
            + models.replace("> 100", "> 500").replace("SELECT order_id FROM", "SELECT nosuch FROM")
        }
    )

    result = project.run("compile")

    assert result.exit_code == 1
    assert "nosuch" in result.output
    assert {p.name: p.read_text() for p in target.iterdir()} == before
    assert "amount > 100" in before["big.sql"]
    assert not (target.parent / ".cache" / "staging").exists()

    project.write({"stream_project.yml": PROJECT + models.replace("> 100", "> 500")})
    assert project.run("compile").exit_code == 0
    assert "amount > 500" in (target / "big.sql").read_text()
