"""Sample-test assertions, the expression evaluator, decoding and results, without a broker."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sluice.plugin import api
from sluice.project.schema import Sample as SampleSpec
from sluice_kafka import avro
from sluice_kafka.assertions import (
    SKIP,
    Check,
    CheckError,
    EvalError,
    SampleView,
    age_text,
    build,
    compile_expression,
    parse_time,
)
from sluice_kafka.json_records import JsonColumns
from sluice_kafka.sample_test import Decoded, Decoder, bounds_of, decode_json, decoder_for, evaluate
from sluice_kafka.sampling import Sample

NOW = 1_700_000_000_000


def reasons(
    assertion: dict[str, Any], values: list[Any], stamps: Sequence[int | None] = ()
) -> list[str]:
    label, check = build(assertion)
    view = SampleView(values, stamps, NOW, lambda i: f"#{i}")
    found = check(view)
    assert all(v.assertion == label for v in found)
    return [f"{v.index}: {v.reason}" for v in found]


# -- the assertions -------------------------------------------------------------------------------


def test_not_null_names_null_and_missing_columns() -> None:
    rows = [{"id": 1, "name": "a"}, {"id": None, "name": "b"}, {"name": "c"}, None]
    assert reasons({"not_null": {"columns": ["id", "name"]}}, rows) == [
        "1: id is null",
        "2: id is missing",
    ]
    assert reasons({"not_null": {"columns": "name"}}, rows) == []


def test_accepted_values_keeps_booleans_apart_from_one_and_zero_among_accepted_values() -> None:
    rows = [{"s": 1}, {"s": True}, {"s": 0.0}, {"s": False}]
    assert reasons({"accepted_values": {"column": "s", "values": [1, 0]}}, rows) == [
        "1: s = true is not one of [1, 0]",
        "3: s = false is not one of [1, 0]",
    ]


def test_range_looks_at_every_record_past_a_nan() -> None:
    rows = [{"n": float("nan")}, {"n": 5}, {"n": 20}, {"n": True}]
    assert reasons({"range": {"column": "n", "min": 0, "max": 10}}, rows) == [
        "2: n = 20 is above the maximum 10",
        "3: n = true is not a number",
    ]
    assert reasons({"range": {"column": "n", "max": 10}}, [{"n": 5}, {"n": 10.5}]) == [
        "1: n = 10.5 is above the maximum 10"
    ]


def test_accepted_values_skips_nulls_and_keeps_booleans_apart() -> None:
    rows = [{"s": "new"}, {"s": "lost"}, {"s": None}, {"s": True}, {"s": 1}]
    assert reasons({"accepted_values": {"column": "s", "values": ["new", 1]}}, rows) == [
        '1: s = "lost" is not one of ["new", 1]',
        '3: s = true is not one of ["new", 1]',
    ]


def test_range() -> None:
    rows = [{"a": 0}, {"a": -1}, {"a": 10.5}, {"a": "7"}, {"a": None}, {"a": 10}]
    assert reasons({"range": {"column": "a", "min": 0, "max": 10}}, rows) == [
        "1: a = -1 is below the minimum 0",
        "2: a = 10.5 is above the maximum 10",
        '3: a = "7" is not a number',
    ]
    with pytest.raises(CheckError, match="give min, max or both"):
        build({"range": {"column": "a"}})


def test_unique_points_at_the_first_occurrence() -> None:
    rows = [{"id": "a", "p": 1}, {"id": "b", "p": 1}, {"id": "a", "p": 2}, {"id": None}]
    assert reasons({"unique": {"columns": ["id"]}}, rows) == ['2: id = "a" repeats #0']
    assert reasons({"unique": {"columns": ["id", "p"]}}, rows) == []
    rows.append({"id": "a", "p": 1})
    assert reasons({"unique": {"columns": ["id", "p"]}}, rows) == ['4: id, p = ["a", 1] repeats #0']


def test_matches_searches_strings() -> None:
    rows = [{"e": "a@b.io"}, {"e": "nope"}, {"e": 5}, {"e": None}]
    assert reasons({"matches": {"column": "e", "pattern": "@.+\\."}}, rows) == [
        '1: e = "nope" does not match @.+\\.',
        "2: e = 5 is not a string",
    ]
    with pytest.raises(CheckError, match="is not a regex"):
        build({"matches": {"column": "e", "pattern": "("}})


def test_accepted_types() -> None:
    rows = [
        {"i": 1, "s": "x", "d": "12.50", "t": "2024-01-01T00:00:00Z", "b": True},
        {"i": 2**31, "s": 3, "d": "abc", "t": "yesterday", "b": 1},
        {"i": True, "s": None, "d": 1.5, "t": 1_700_000_000_000, "b": None},
    ]
    types = {
        "i": "INT",
        "s": "VARCHAR(10)",
        "d": "DECIMAL(10, 2)",
        "t": "TIMESTAMP(3)",
        "b": "BOOLEAN",
    }
    assert reasons({"accepted_types": {"columns": types}}, rows) == [
        "1: i = 2147483648 is an integer, not INT",
        "2: i = true is a boolean, not INT",
        "1: s = 3 is an integer, not VARCHAR(10)",
        '1: d = "abc" is a string, not DECIMAL(10, 2)',
        '1: t = "yesterday" is a string, not TIMESTAMP(3)',
        "1: b = 1 is an integer, not BOOLEAN",
    ]
    assert reasons({"accepted_types": {"columns": {"i": "BIGINT"}}}, rows) == [
        "2: i = true is a boolean, not BIGINT"
    ]
    with pytest.raises(CheckError, match="unknown type 'GEOMETRY'"):
        build({"accepted_types": {"columns": {"i": "GEOMETRY"}}})


def test_freshness_by_kafka_timestamp_and_by_column() -> None:
    rows = [{"at": "2023-11-14T22:00:00Z"}, {"at": NOW - 30_000}]
    stamps = [NOW - 7_200_000, NOW - 3_700_000]
    assert reasons({"freshness": {"max_age": "1h"}}, rows, stamps) == [
        "1: the newest record (Kafka timestamp) is 1h 1m old, more than the allowed 1h"
    ]
    assert reasons({"freshness": {"max_age": "2h"}}, rows, stamps) == []
    assert reasons({"freshness": {"max_age": "1m", "column": "at"}}, rows, stamps) == []
    assert reasons({"freshness": {"max_age": "10s", "column": "at"}}, rows, stamps) == [
        "1: the newest record (at) is 30s old, more than the allowed 10s"
    ]
    assert reasons({"freshness": {"max_age": "1h"}}, [], []) == [
        "None: the sample holds no records"
    ]
    assert reasons({"freshness": {"max_age": "1h", "column": "x"}}, rows, stamps) == [
        "None: no record of the sample has a readable x"
    ]


def test_row_count_counts_every_record() -> None:
    rows = [{"a": 1}, None, {"a": 2}]
    assert reasons({"row_count": {"min": 3, "max": 3}}, rows) == []
    assert reasons({"row_count": {"min": 4}}, rows) == [
        "None: the sample holds 3 records, fewer than the minimum 4"
    ]
    assert reasons({"row_count": {"max": 2}}, rows) == [
        "None: the sample holds 3 records, more than the maximum 2"
    ]


def test_expression_fails_false_passes_null_and_reports_errors() -> None:
    rows = [{"a": 5}, {"a": -1}, {"a": None}, {"a": "x"}]
    assert reasons({"expression": {"sql": "a > 0"}}, rows) == [
        "1: false: a > 0",
        '3: cannot evaluate a > 0: cannot compare "x" with 0',
    ]
    assert reasons({"expression": {"sql": "a + 1"}}, [{"a": 1}]) == [
        "0: gives 2, not a boolean: a + 1"
    ]


def test_nested_columns_and_tombstones() -> None:
    rows = [{"c": {"id": 1}}, {"c": {"id": None}}, None, {"c.id": 3}]
    assert reasons({"not_null": {"columns": ["c.id"]}}, rows) == ["1: c.id is null"]


def test_build_refuses_unknown_kinds_and_bad_arguments() -> None:
    with pytest.raises(CheckError, match="unknown assertion 'not_nul'"):
        build({"not_nul": {"columns": ["a"]}})
    with pytest.raises(CheckError, match="not_null: "):
        build({"not_null": {"cols": ["a"]}})


# -- the expression evaluator ---------------------------------------------------------------------

RECORD = {"a": 5, "b": 2.5, "s": "Hello", "n": None, "o": {"x": 2, "y": {"z": "deep"}}, "t": True}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("a = 5 AND b < 3", True),
        ("a <> 5 OR b >= 2.5", True),
        ("NOT (a > 4)", False),
        ("a > 1 AND n > 1", None),
        ("a < 1 AND n > 1", False),
        ("a > 1 OR n > 1", True),
        ("a < 1 OR n > 1", None),
        ("NOT n > 1", None),
        ("n IS NULL", True),
        ("a IS NOT NULL", True),
        ("t IS TRUE", True),
        ("t IS NOT FALSE", True),
        ("a IN (1, 5)", True),
        ("a NOT IN (1, 2)", True),
        ("a IN (1, NULL)", None),
        ("s IN ('Hello')", True),
        ("a BETWEEN 5 AND 6", True),
        ("a NOT BETWEEN 1 AND 4", True),
        ("s LIKE 'He%'", True),
        ("s LIKE 'h%'", False),
        ("s LIKE 'H_llo'", True),
        ("s NOT LIKE '%x%'", True),
        ("s ILIKE 'h%'", True),
        ("s LIKE 'He!%' ESCAPE '!'", False),
        ("-a + 2 * 3 = 1", True),
        ("7 / 2 = 3", True),
        ("-7 / 2 = -3", True),
        ("-7 % 3 = -1", True),
        ("b * 2 = 5.0", True),
        ("o.x = 2", True),
        ("o.y.z = 'deep'", True),
        ("o.missing IS NULL", True),
        ("CAST('12' AS INT) = 12", True),
        ("CAST(a AS STRING) = '5'", True),
        ("LOWER(s) || '!' = 'hello!'", True),
        ("CONCAT(s, '-', a) = 'Hello-5'", True),
        ("UPPER(s) = 'HELLO' AND CHAR_LENGTH(s) = 5", True),
        ("TRIM('  x ') = 'x'", True),
        ("ABS(-a) = 5", True),
        ("COALESCE(n, a) = 5", True),
        ("CASE WHEN a > 4 THEN 'big' ELSE 'small' END = 'big'", True),
        ("CASE a WHEN 1 THEN FALSE WHEN 5 THEN TRUE END", True),
        ("`a` = 5", True),
        ("n = n", None),
    ],
)
def test_expression_values(sql: str, expected: Any) -> None:
    assert compile_expression(sql)(RECORD) is expected


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("s > 1", 'cannot compare "Hello" with 1'),
        ("a / 0 = 1", "division by zero"),
        ("s + 1 = 2", '"Hello" + 1 needs two numbers'),
        ("UPPER(a) = 'A'", "UPPER(5) needs a string"),
        ("CAST(s AS INT) = 1", 'CAST("Hello")'),
        ("t = 1", "cannot compare true with 1"),
    ],
)
def test_expression_errors_per_record(sql: str, message: str) -> None:
    with pytest.raises(EvalError, match=re.escape(message)):
        compile_expression(sql)(RECORD)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SUM(a) > 1", "SUM(a) is not supported in a sample test"),
        ("a > (SELECT 1)", "is not supported in a sample test"),
        ("a, b", "write one SQL boolean"),
        ("a > 1 FROM other", "is not one SQL boolean"),
        ("a >", "is not one SQL boolean"),
        ("a = 1; DROP TABLE x", "is not one SQL boolean"),
        ("a > 1 WHERE b", "is not one SQL boolean"),
        ("CAST(a AS GEOMETRY) = 1", "is not"),
    ],
)
def test_expression_refused_when_built(sql: str, message: str) -> None:
    with pytest.raises(CheckError, match=re.escape(message)):
        compile_expression(sql)


def test_expression_never_runs_python() -> None:
    with pytest.raises(CheckError):
        compile_expression("__import__('os').system('true') = 0")


# -- helpers --------------------------------------------------------------------------------------


def test_parse_time_and_age_text() -> None:
    assert parse_time("2023-11-14T22:13:20Z") == NOW
    assert parse_time("2023-11-14 22:13:20") == NOW
    assert parse_time(NOW) == NOW
    assert parse_time(NOW // 1000) == NOW
    assert parse_time(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)) == NOW
    assert parse_time("soon") is None
    assert parse_time(True) is None
    assert age_text(1500) == "1.5s"
    assert age_text(7_384_000) == "2h 3m"
    assert age_text(90_000_000) == "1d 1h"


def test_bounds_of_a_window_cap_only_when_given() -> None:
    assert bounds_of(SampleSpec()).max_records == 1000
    assert bounds_of(SampleSpec(window="10m")).max_records is None
    assert bounds_of(SampleSpec(window="10m")).window_ms == 600_000
    assert bounds_of(SampleSpec(window="10m", max_records=5)).max_records == 5


def test_decode_json_keeps_going_past_bad_records() -> None:
    values, problems = decode_json([b'{"a": 1}', b"nope", None])
    assert values == [{"a": 1}, None, None]
    assert list(problems) == [1] and problems[1].startswith("not JSON: ")


# -- results --------------------------------------------------------------------------------------


class FakeMessage:
    def __init__(self, partition: int, offset: int, value: bytes | None, stamp: int = NOW) -> None:
        self._p, self._o, self._v, self._t = partition, offset, value, stamp

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v

    def timestamp(self) -> tuple[int, int]:
        return (1, self._t)


def sample_of(*values: Any) -> Sample:
    messages: list[Any] = [
        FakeMessage(
            i % 2, i // 2, v if isinstance(v, bytes) or v is None else json.dumps(v).encode()
        )
        for i, v in enumerate(values)
    ]
    return Sample("shop.orders", messages, {0: (0, 10), 1: (0, 10)})


def evaluated(
    sample: Sample, checks: list[tuple[str, Check]], batch: int = 0, decode: Decoder | None = None
) -> api.TestResult:
    """The result of ``sample``, its records decoded in batches of ``batch`` (0: all at once),
    by ``decode`` (by default the decoder a test with these checks uses)."""
    decoded = Decoded(decode or decoder_for("json", None, checks))
    step = batch or max(1, len(sample.messages))
    for start in range(0, len(sample.messages), step):
        decoded.add(sample.messages[start : start + step])
    return evaluate("test.t", sample, checks, decoded, NOW)


def test_evaluate_passes_with_a_summary() -> None:
    checks = [build({"not_null": {"columns": ["id"]}})]
    result = evaluated(sample_of({"id": 1}, {"id": 2}), checks)
    assert (result.status, result.failures, result.details) == ("pass", 0, ())
    assert result.message == "1 assertion holds on 2 records of 'shop.orders' (2 partitions)"


def test_evaluate_fails_naming_partition_offset_and_value() -> None:
    checks = [build({"not_null": {"columns": ["id"]}}), build({"range": {"column": "n", "min": 0}})]
    long = {"id": None, "n": -1, "pad": "x" * 300}
    sample = sample_of({"id": 1, "n": 1}, long, b"[1, 2]", b"{oops", {"id": 2, "n": -3})
    result = evaluated(sample, checks)
    assert result.status == "fail"
    assert result.failures == 5
    first = result.details[0]
    assert first["assertion"] == "decode" and (first["partition"], first["offset"]) == (0, 1)
    assert first["reason"] == "the value is list, not a record"
    null = next(d for d in result.details if d["assertion"] == "not_null(id)")
    assert (null["partition"], null["offset"], null["reason"]) == (1, 0, "id is null")
    assert len(null["value"]) == 200 and null["value"].endswith("...")
    assert result.message.startswith("5 failures in 5 records of 'shop.orders': decode: ")
    assert "(partition 1, offset 1)" in result.message
    assert result.message.endswith("; and 2 more")


def test_a_sample_decoded_batch_by_batch_as_read_gives_the_same_result() -> None:
    checks = [
        build({"not_null": {"columns": ["id"]}}),
        build({"unique": {"columns": ["id"]}}),
        build({"range": {"column": "n", "min": 0}}),
    ]
    records = [{"id": i % 4 or None, "n": 2 - i} for i in range(9)]
    sample = sample_of(b"{oops", *records[:5], b"7", *records[5:], None)
    at_once = evaluated(sample, checks)
    assert at_once.failures == 14
    for batch in (1, 2, 5):
        assert evaluated(sample, checks, batch) == at_once


def test_evaluate_lists_sample_wide_failures_without_a_record() -> None:
    checks = [build({"row_count": {"min": 5}})]
    result = evaluated(sample_of({"id": 1}), checks)
    assert result.status == "fail"
    assert result.details == [
        {
            "partition": None,
            "offset": None,
            "value": None,
            "assertion": "row_count",
            "reason": "the sample holds 1 records, fewer than the minimum 5",
        }
    ]


# -- Avro -------------------------------------------------------------------------------------------

SCHEMA = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": ["null", "long"]},
        {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["NEW", "PAID"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "ok", "type": "boolean"},
        {"name": "price", "type": "double"},
    ],
}


class FixedRegistry(avro.Decoder):
    def __init__(self) -> None:
        super().__init__(None)

    def fetch(self, schema_id: int) -> Any:
        assert schema_id == 7
        return SCHEMA


def test_avro_round_trip_of_the_wire_format() -> None:
    value = {
        "id": "o-1",
        "amount": -42,
        "state": "PAID",
        "tags": ["a", "b"],
        "ok": True,
        "price": 1.5,
    }
    raw = avro.encode_for_tests(SCHEMA, value, 7)
    decoder = FixedRegistry()
    assert decoder.decode(raw) == value
    nulls = {**value, "amount": None, "tags": []}
    assert decoder.decode(avro.encode_for_tests(SCHEMA, nulls, 7)) == nulls
    values, problems = decoder.decode_all([raw, b"{}", raw[:-3], None])
    assert values == [value, None, None, None]
    assert problems[1].startswith("not Avro: not in the registry's wire format")
    assert problems[2] == "not Avro: the record ends early"


def test_avro_logical_types() -> None:
    reader = avro.compile_schema(
        {
            "type": "record",
            "name": "R",
            "fields": [
                {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {
                    "name": "d",
                    "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
                },
            ],
        }
    )
    raw = bytearray()
    avro._zigzag(NOW, raw)
    avro._zigzag(2, raw)
    raw.extend((-1234).to_bytes(2, "big", signed=True))
    value = reader(avro._Buffer(bytes(raw)))
    assert value == {"at": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), "d": Decimal("-12.34")}


# -- decoding only the columns the checks read ------------------------------------------------------

COLUMN_CHECKS = [
    build({"not_null": {"columns": ["id"]}}),
    build({"range": {"column": "n", "min": 0, "max": 10}}),
    build({"accepted_values": {"column": "s", "values": ["a", "b"]}}),
    build({"row_count": {"min": 1}}),
]


def test_json_records_are_decoded_in_the_columns_the_checks_read_when_they_all_read_columns() -> (
    None
):
    decode = decoder_for("json", None, COLUMN_CHECKS)
    assert isinstance(decode, JsonColumns) and decode.columns == ("id", "n", "s")
    expression = build({"expression": {"sql": "n > 0"}})  # reads whole records
    assert decoder_for("json", None, [*COLUMN_CHECKS, expression]) is decode_json
    nested = build({"not_null": {"columns": ["a.b"]}})  # a.b: a column, or b of a
    assert decoder_for("json", None, [nested]) is decode_json
    assert decoder_for(None, None, []) is decode_json
    count = build({"row_count": {"min": 2}})  # reads no column: the records are still checked
    decode = decoder_for("json", None, [count])
    assert isinstance(decode, JsonColumns) and decode.columns == ()
    result = evaluated(sample_of({"a": 1}, b"{oops"), [count])
    assert [d["assertion"] for d in result.details] == ["decode"]


ODD_RECORDS = [
    {"id": 1, "n": 1, "s": "a", "other": [1, {"x": "y"}]},
    {"id": None, "n": 11, "s": "c"},
    {"n": "x", "s": True},  # id missing, n not a number, s a boolean
    b'{"id": 1, "n": 1, "s": "a", "other": "\xff"}',  # not UTF-8 in a column not read
    b'{"id": 1, "n": 1, "s": "a", "other": "\\ud800"}',  # a lone surrogate
    b'{"id": 1, "n": 1, "s": "a", "other": [1, }',  # not JSON where no check reads
    b'{"id": 1, "n": 1e999}',  # a number beyond the double range in a column read
    b'{"id": 1, "n": 1, "id": null}',  # the last of two is the column
    b'{"id": 1, "\\u006e": 12}',  # an escaped name
    b"[1, 2]",
    b'"text"',
    b"",
    b"null",  # no record, as a tombstone
    None,
    {"id": 1, "n": 2, "s": "b"},
    '{"id": "\u00e9t\u00e9", "n": 1, "s": "a"}'.encode(),  # UTF-8 beyond ASCII
]


def test_decoding_only_the_columns_read_gives_every_record_the_same_result() -> None:
    sample = sample_of(*ODD_RECORDS)
    partial = evaluated(sample, COLUMN_CHECKS, 4)
    assert partial == evaluated(sample, COLUMN_CHECKS, 4, decode_json)
    assert partial.failures == 15
    reasons = [(d["offset"] * 2 + d["partition"], d["reason"]) for d in partial.details]
    assert [i for i, reason in reasons if reason.startswith("not JSON: ")] == [3, 4, 5, 6, 11]
    assert (9, "the value is list, not a record") in reasons
    assert (10, "the value is str, not a record") in reasons
    assert (8, "n = 12 is above the maximum 10") in reasons
    assert (7, "id is null") in reasons
    assert (2, "id is missing") in reasons


def test_json_columns_differs_from_orjson_only_on_numbers_beyond_its_limits() -> None:
    decode = JsonColumns(["id"])
    # a number beyond the double range: orjson refuses the record, even where no check reads;
    # JsonColumns only where a check reads
    values, problems = decode([b'{"id": 1, "other": 1e999}', b'{"id": 1e999}'])
    assert decode.column(values, "id") == [1, SKIP]
    assert list(problems) == [1] and problems[1].startswith("not JSON: ")
    assert list(decode_json([b'{"id": 1, "other": 1e999}'])[1]) == [0]
    # an integer beyond 64 bits is read exactly, where orjson rounds it to a double
    rows, _ = decode([b'{"id": 123456789012345678901234567890}'])
    assert decode.column(rows, "id") == [123456789012345678901234567890]
    assert decode_json([b'{"id": 123456789012345678901234567890}'])[0] == [
        {"id": 1.2345678901234568e29}
    ]


def test_a_record_of_some_columns_is_shown_whole_with_its_hidden_columns_masked() -> None:
    checks = [build({"not_null": {"columns": ["id"]}})]
    raw = [FakeMessage(0, 0, b'{"id": null, "card": "4111111111111111", "n": 1}')]
    decoded = Decoded.of(raw, decoder_for("json", None, checks))
    assert isinstance(decoded.decode, JsonColumns)
    result = evaluate("test.t", sample_of(), checks, decoded, NOW, frozenset({"card"}))
    (detail,) = result.details
    assert detail["value"] == '{"id": null, "card": "***", "n": 1}'
