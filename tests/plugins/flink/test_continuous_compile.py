"""Continuous tests at compile time: given a test with type: continuous, which Flink job lands
in target/flink/tests/, which violations topic sluice-kafka plans, and which tests are refused.
"""

from __future__ import annotations

from sluice_flink.violations import Found, summarize

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
      - { name: card, type: STRING, classification: pii }
      - { name: status, type: STRING }
      - { name: amount, type: "DECIMAL(12,2)" }
      - { name: ts, type: "TIMESTAMP(3)" }
"""


def continuous(assertions: str, model: str = "orders", name: str = "orders_quality") -> str:
    return f"""
tests:
  - name: {name}
    model: {model}
    type: continuous
    assertions:
{assertions}"""


def compile_project(sluice_project, text: str):
    project = sluice_project({"stream_project.yml": text})
    result = project.run("compile")
    return project, result


def compile_ok(sluice_project, text: str):
    project, result = compile_project(sluice_project, text)
    assert result.exit_code == 0, result.output
    return project


def compile_error(sluice_project, text: str) -> str:
    _, result = compile_project(sluice_project, text)
    assert result.exit_code != 0, result.output
    return result.output


def test_a_continuous_test_becomes_a_flink_job_writing_violations(sluice_project):
    project = compile_ok(
        sluice_project,
        PROJECT
        + continuous(
            """
      - not_null: { columns: [order_id] }
      - range: { column: amount, min: 0, max: 1000000 }
      - accepted_values: { column: status, values: [new, paid] }
      - matches: { column: order_id, pattern: "^o[0-9]+$" }
      - expression: { sql: "amount < 500 OR status = 'paid'" }
"""
        ),
    )
    text = (project.path / "target" / "flink" / "tests" / "orders_quality.sql").read_text()
    (job,) = [
        a
        for a in project.manifest()["nodes"]["test.orders_quality"]["artifacts"]
        if a["kind"] == "job"
    ]
    version = job["spec"]["checks_version"]  # each violation says which checks found it
    assert len(version) == 16 and f"'{version}'" in text
    assert text.replace(version, "VERSION") == (
        """\
SET 'pipeline.name' = 'sluice.shop.test.orders_quality';

SET 'execution.checkpointing.interval' = '10000 ms';

CREATE TEMPORARY TABLE `orders` (
  `order_id` STRING,
  `card` STRING,
  `status` STRING,
  `amount` DECIMAL(12,2),
  `ts` TIMESTAMP(3),
  `__sluice_partition` INT METADATA FROM 'partition' VIRTUAL,
  `__sluice_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  WATERMARK FOR `ts` AS `ts` - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'orders.v1',
  'properties.bootstrap.servers' = 'broker:9092',
  'properties.group.id' = 'sluice.shop.test.orders_quality',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'false',
  'scan.watermark.idle-timeout' = '30 s'
);

CREATE TEMPORARY TABLE `__sluice_violations` (
  `test` STRING,
  `assertion` STRING,
  `reason` STRING,
  `record` STRING,
  `partition` INT,
  `offset` BIGINT,
  `event_time` STRING,
  `processed_at` TIMESTAMP_LTZ(3),
  `version` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '_sluice_violations.shop.orders_quality',
  'properties.bootstrap.servers' = 'broker:9092',
  'format' = 'json',
  'json.timestamp-format.standard' = 'ISO-8601'
);

INSERT INTO `__sluice_violations`
WITH `__sluice_checked` AS (
  SELECT `order_id`, `card`, `status`, `amount`, `ts`, `__sluice_partition`, `__sluice_offset`,
    JSON_OBJECT(KEY 'order_id' VALUE `order_id`, """
        """KEY 'card' VALUE CASE WHEN `card` IS NULL THEN NULL ELSE '***' END, """
        """KEY 'status' VALUE `status`, KEY 'amount' VALUE `amount`, """
        """KEY 'ts' VALUE `ts`) AS `__sluice_record`
  FROM `orders`
)
SELECT 'orders_quality', 'not_null(order_id)', 'order_id is null', `__sluice_record`, """
        """`__sluice_partition`, `__sluice_offset`, CAST(`ts` AS STRING), CURRENT_TIMESTAMP, 'VERSION'
FROM `__sluice_checked`
WHERE `order_id` IS NULL
UNION ALL
SELECT 'orders_quality', 'range(amount)', CASE WHEN `amount` < 0 """
        """THEN 'amount is below the minimum 0' ELSE 'amount is above the maximum 1000000' END, """
        """`__sluice_record`, `__sluice_partition`, `__sluice_offset`, CAST(`ts` AS STRING), """
        """CURRENT_TIMESTAMP, 'VERSION'
FROM `__sluice_checked`
WHERE `amount` < 0 OR `amount` > 1000000
UNION ALL
SELECT 'orders_quality', 'accepted_values(status)', 'status is not one of ["new", "paid"]', """
        """`__sluice_record`, `__sluice_partition`, `__sluice_offset`, CAST(`ts` AS STRING), """
        """CURRENT_TIMESTAMP, 'VERSION'
FROM `__sluice_checked`
WHERE `status` NOT IN ('new', 'paid')
UNION ALL
SELECT 'orders_quality', 'matches(order_id)', 'order_id does not match ^o[0-9]+$', """
        """`__sluice_record`, `__sluice_partition`, `__sluice_offset`, CAST(`ts` AS STRING), """
        """CURRENT_TIMESTAMP, 'VERSION'
FROM `__sluice_checked`
WHERE NOT REGEXP(`order_id`, '^o[0-9]+$')
UNION ALL
SELECT 'orders_quality', 'expression', 'false: amount < 500 OR status = ''paid''', """
        """`__sluice_record`, `__sluice_partition`, `__sluice_offset`, CAST(`ts` AS STRING), """
        """CURRENT_TIMESTAMP, 'VERSION'
FROM `__sluice_checked`
WHERE (`amount` < 500 OR `status` = 'paid') IS FALSE;
"""
    )


def test_the_job_and_its_violations_topic_are_artifacts_of_the_test(sluice_project):
    project = compile_ok(
        sluice_project,
        "defaults: { topic: { replication_factor: 3 } }\n"
        + PROJECT
        + continuous("      - not_null: { columns: [order_id] }"),
    )
    artifacts = project.manifest()["nodes"]["test.orders_quality"]["artifacts"]
    by_kind = {(a["plugin"], a["kind"]): a for a in artifacts}
    job = by_kind[("flink", "job")]
    assert job["name"] == "sluice.shop.test.orders_quality"
    assert job["spec"]["upgrade"] == "stateless"
    assert len(job["spec"]["spec_hash"]) == 64
    topic = by_kind[("kafka", "topic")]
    assert topic["name"] == "_sluice_violations.shop.orders_quality"
    assert topic["spec"] == {
        "name": "_sluice_violations.shop.orders_quality",
        "partitions": 1,
        "replication_factor": 3,
        "config": {"cleanup.policy": "delete", "retention.ms": "604800000"},
    }


def test_names_and_values_from_the_project_cannot_end_the_statement(sluice_project):
    project = compile_ok(
        sluice_project,
        """
project: { name: shop }
runtime:
  kafka: { bootstrap_servers: "broker:9092" }
  flink: { rest_url: "http://flink:8081" }
sources:
  - name: odd
    topic: odd.v1
    columns:
      - { name: "we`ird", type: STRING }
      - { name: n, type: INT }
"""
        + continuous(
            """
      - accepted_values: { column: "we`ird", values: ["x'); DROP TABLE y; --"] }
      - matches: { column: "we`ird", pattern: "^a'b$" }
      - expression: { sql: "n > 0 /* ) IS FALSE UNION ALL SELECT 1 -- */" }
""",
            model="odd",
            name="odd_quality",
        ),
    )
    text = (project.path / "target" / "flink" / "tests" / "odd_quality.sql").read_text()
    assert "WHERE `we``ird` NOT IN ('x''); DROP TABLE y; --')" in text
    assert "WHERE NOT REGEXP(`we``ird`, '^a''b$')" in text
    assert "KEY 'we`ird' VALUE `we``ird`" in text
    # the expression is written back from its parse tree: the comment is gone
    assert "WHERE (`n` > 0) IS FALSE;" in text
    assert "UNION ALL SELECT 1" not in text.replace("\n", " ").split("'false: ")[0]


def test_an_expression_is_written_back_in_flink_spelling(sluice_project):
    project = compile_ok(
        sluice_project,
        PROJECT
        + continuous(
            """
      - expression: { sql: "CHAR_LENGTH(order_id) = 5 AND POSITION('o' IN order_id) = 1" }
"""
        ),
    )
    text = (project.path / "target" / "flink" / "tests" / "orders_quality.sql").read_text()
    assert "WHERE (CHAR_LENGTH(`order_id`) = 5 AND POSITION('o' IN `order_id`) = 1) IS FALSE" in (
        text
    )


def test_an_updating_model_is_checked_message_by_message(sluice_project):
    project = compile_ok(
        sluice_project,
        PROJECT
        + """
models:
  - name: per_status
    sql: SELECT status, COUNT(*) AS n FROM {{ source("orders") }} GROUP BY status
"""
        + continuous("      - range: { column: n, max: 100 }", model="per_status"),
    )
    text = (project.path / "target" / "flink" / "tests" / "orders_quality.sql").read_text()
    assert "'connector' = 'kafka'" in text and "upsert-kafka" not in text
    assert "PRIMARY KEY" not in text and "'format' = 'json'" in text
    assert "'key.format'" not in text and "'value.format'" not in text


def test_columns_computed_from_sensitive_ones_are_masked_too(sluice_project):
    project = compile_ok(
        sluice_project,
        PROJECT
        + """
models:
  - name: cards
    sql: SELECT UPPER(card) AS card_upper, amount FROM {{ source("orders") }}
"""
        + continuous("      - not_null: { columns: [amount] }", model="cards"),
    )
    text = (project.path / "target" / "flink" / "tests" / "orders_quality.sql").read_text()
    assert "KEY 'card_upper' VALUE CASE WHEN `card_upper` IS NULL THEN NULL ELSE '***' END" in text
    assert "KEY 'amount' VALUE `amount`" in text


# -- refused ----------------------------------------------------------------------------------


def test_assertions_that_need_more_than_one_record_are_refused(sluice_project):
    for assertion, why in [
        ("unique: { columns: [order_id] }", "unique compares records with each other"),
        ("row_count: { min: 1 }", "row_count counts a bounded sample of records"),
        ("freshness: { max_age: 5m }", "freshness compares the newest record"),
        ("accepted_types: { columns: { amount: number } }", "accepted_types cannot see"),
    ]:
        output = compile_error(
            sluice_project,
            PROJECT
            + continuous(f"      - not_null: {{ columns: [order_id] }}\n      - {assertion}"),
        )
        assert "a continuous test checks one record at a time, and " + why in output, output
        assert "stream_project.yml:22:9" in output, output
        kind = assertion.split(":")[0]
        assert f"hint: move {kind} to a test with type: sample" in output, output


def test_an_unknown_column_is_named_with_a_suggestion(sluice_project):
    output = compile_error(
        sluice_project, PROJECT + continuous("      - not_null: { columns: [order_idd] }")
    )
    assert output == (
        "error: stream_project.yml:21:30: test 'orders_quality': not_null names column "
        "'order_idd', which source 'orders' does not declare\n"
        "  hint: did you mean 'order_id'?\n"
    )


def test_expressions_that_are_not_one_record_level_condition_are_refused(sluice_project):
    cases = [
        ("COUNT(*) > 1", "uses COUNT(*); a continuous test checks one record at a time"),
        ("amount > (SELECT 1)", "a continuous test checks one record at a time"),
        ("amount + 1", "is a value, not a condition"),
        ("amount >", "is not one SQL boolean"),
        ("amount > 0 FROM other", "is not one SQL boolean"),
        ("amount > 0; DROP TABLE x", "is not one SQL boolean"),
        ("amountt > 0", "names column 'amountt', which source 'orders' does not declare"),
    ]
    for sql, message in cases:
        output = compile_error(
            sluice_project, PROJECT + continuous(f'      - expression: {{ sql: "{sql}" }}')
        )
        assert message in output, (sql, output)
        assert "stream_project.yml:21" in output, (sql, output)


def test_range_needs_a_numeric_column_and_values_must_fit_the_column(sluice_project):
    output = compile_error(
        sluice_project, PROJECT + continuous("      - range: { column: status, min: 0 }")
    )
    assert "range(status) needs a numeric column, and 'status' is STRING" in output, output
    output = compile_error(
        sluice_project,
        PROJECT + continuous("      - accepted_values: { column: amount, values: [1, big] }"),
    )
    assert "accepted_values(amount): 'big' cannot be a value of column 'amount'" in output


def test_without_a_stream_job_runtime_a_continuous_test_compiles_to_nothing(sluice_project):
    """No runtime.flink: no job and no violations topic; `sluice test --watch` checks it."""
    text = PROJECT.replace('  flink: { rest_url: "http://flink:8081" }\n', "")
    project = compile_ok(sluice_project, text + continuous("      - not_null: { columns: [card] }"))
    node = project.manifest()["nodes"]["test.orders_quality"]
    assert node["artifacts"] == [] and node.get("topic") is None
    assert not (project.path / "target" / "flink" / "tests").exists()


# -- the report of sluice test ---------------------------------------------------------------


def _violation(assertion: str, reason: str, offset: int, version: str = "v2") -> dict:
    return {
        "test": "q",
        "assertion": assertion,
        "reason": reason,
        "record": '{"order_id":null,"card":"***"}',
        "partition": 0,
        "offset": offset,
        "event_time": "2024-01-01 00:00:01.000",
        "processed_at": "2024-01-01T00:00:02.000Z",
        "version": version,
    }


def test_no_violations_in_the_window_is_a_pass():
    result = summarize("test.q", Found("_sluice_violations.shop.q"), "the last 1h", "v2")
    assert (result.status, result.failures) == ("pass", 0)
    assert result.message == "no violations in the last 1h ('_sluice_violations.shop.q')"


def test_violations_are_counted_per_assertion_and_the_first_named():
    found = Found(
        "_sluice_violations.shop.q",
        [
            (0, 10, _violation("not_null(order_id)", "order_id is null", 3)),
            (0, 11, _violation("range(amount)", "amount is below the minimum 0", 4)),
            (0, 12, _violation("not_null(order_id)", "order_id is null", 7)),
            (0, 13, _violation("not_null(order_id)", "order_id is null", 9)),
        ],
    )
    result = summarize("test.q", found, "the last 1h", "v2")
    assert (result.status, result.failures) == ("fail", 4)
    assert result.message == (
        "4 violations in the last 1h (not_null(order_id) 3, range(amount) 1): "
        "not_null(order_id): order_id is null (partition 0, offset 3); "
        "range(amount): amount is below the minimum 0 (partition 0, offset 4); "
        "not_null(order_id): order_id is null (partition 0, offset 7); and 1 more"
    )
    assert result.details[0]["value"] == '{"order_id":null,"card":"***"}'
    assert result.details[0]["violation"] == "0:10"


def test_a_window_not_read_in_time_is_an_error():
    found = Found("v", [(0, 1, _violation("a", "b", 1))], missing=5)
    result = summarize("test.q", found, "the last 1h", "v2")
    assert result.status == "error"
    assert "read 1 of the 6 violations" in result.message


def test_violations_of_an_earlier_version_of_the_checks_are_not_counted():
    found = Found(
        "v",
        [
            (0, 1, _violation("range(amount)", "amount is above the maximum 10", 1, "v1")),
            (0, 2, _violation("range(amount)", "amount is above the maximum 10", 2, "v1")),
        ],
    )
    result = summarize("test.q", found, "the last 1h", "v2")
    assert result.status == "pass"
    assert result.message == (
        "no violations in the last 1h ('v'); 2 older violations found by an earlier version of "
        "the test not counted"
    )


def test_under_watch_the_job_is_left_alone_and_the_test_checked_in_process():
    from types import SimpleNamespace

    from sluice.runtime import Watch
    from sluice_flink.violations import run_test

    test = SimpleNamespace(spec=SimpleNamespace(type="continuous"), unique_id="test.q")
    assert run_test(test, SimpleNamespace(watch=Watch(1))) is None  # sluice-kafka answers
