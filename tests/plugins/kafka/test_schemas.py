"""Registry schemas built from declared columns, and naming the field that breaks compatibility."""

from __future__ import annotations

import json

import pytest

from sluice.errors import PlanError
from sluice.plugin.api import Artifact
from sluice_kafka.registry import Registered, Verdict
from sluice_kafka.schema_planner import LiveSubject, plan_schema, source_mismatches
from sluice_kafka.schemas import (
    SchemaBuildError,
    avro_type,
    build_schema,
    field_from_messages,
    incompatible_fields,
    json_type,
    parse_type,
)

NS = "org.apache.flink.avro.generated"


@pytest.mark.parametrize(
    ("flink", "avro"),
    [
        ("BOOLEAN NOT NULL", "boolean"),
        ("TINYINT NOT NULL", "int"),
        ("INTEGER NOT NULL", "int"),
        ("BIGINT NOT NULL", "long"),
        ("FLOAT NOT NULL", "float"),
        ("DOUBLE PRECISION NOT NULL", "double"),
        ("VARCHAR(20) NOT NULL", "string"),
        ("BYTES NOT NULL", "bytes"),
        (
            "DECIMAL(12,2) NOT NULL",
            {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        ),
        (
            "DECIMAL NOT NULL",
            {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 0},
        ),
        ("DATE NOT NULL", {"type": "int", "logicalType": "date"}),
        ("TIME(0) NOT NULL", {"type": "int", "logicalType": "time-millis"}),
        ("TIMESTAMP(3) NOT NULL", {"type": "long", "logicalType": "timestamp-millis"}),
        ("TIMESTAMP(6) NOT NULL", {"type": "long", "logicalType": "timestamp-micros"}),
        (
            "TIMESTAMP(3) WITH LOCAL TIME ZONE NOT NULL",
            {"type": "long", "logicalType": "timestamp-millis"},
        ),
        ("TIMESTAMP_LTZ(3) NOT NULL", {"type": "long", "logicalType": "timestamp-millis"}),
        ("ARRAY<STRING NOT NULL> NOT NULL", {"type": "array", "items": "string"}),
        ("MAP<STRING, INT> NOT NULL", {"type": "map", "values": ["null", "int"]}),
        ("STRING", ["null", "string"]),
        (
            "DECIMAL(5, 1)",
            ["null", {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 1}],
        ),
    ],
)
def test_flink_types_map_to_avro_types(flink: str, avro: object) -> None:
    assert avro_type(parse_type(flink)) == avro


@pytest.mark.parametrize(
    ("flink", "schema"),
    [
        ("INT NOT NULL", {"type": "integer"}),
        ("BIGINT", {"type": ["integer", "null"]}),
        ("DECIMAL(12,2) NOT NULL", {"type": "number"}),
        ("STRING NOT NULL", {"type": "string"}),
        ("TIMESTAMP(3) NOT NULL", {"type": "string"}),
        ("DATE NOT NULL", {"type": "string", "format": "date"}),
        ("BOOLEAN", {"type": ["boolean", "null"]}),
        ("ARRAY<INT NOT NULL> NOT NULL", {"type": "array", "items": {"type": "integer"}}),
        (
            "MAP<STRING, DOUBLE NOT NULL> NOT NULL",
            {"type": "object", "additionalProperties": {"type": "number"}},
        ),
    ],
)
def test_flink_types_map_to_json_schema(flink: str, schema: object) -> None:
    assert json_type(parse_type(flink)) == schema


def test_an_avro_value_schema_is_a_record_named_as_flink_names_it() -> None:
    columns = [
        ("id", "STRING NOT NULL"),
        ("amount", "DECIMAL(12,2)"),
        ("ts", "TIMESTAMP(3)"),
        ("address", "ROW<city STRING, zip INT NOT NULL>"),
    ]
    assert build_schema("avro", columns, "orders-value") == {
        "type": "record",
        "name": "record",
        "namespace": NS,
        "fields": [
            {"name": "id", "type": "string"},
            {
                "name": "amount",
                "type": [
                    "null",
                    {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
                ],
                "default": None,
            },
            {
                "name": "ts",
                "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
                "default": None,
            },
            {
                "name": "address",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "record_address",
                        "namespace": NS,
                        "fields": [
                            {"name": "city", "type": ["null", "string"], "default": None},
                            {"name": "zip", "type": "int"},
                        ],
                    },
                ],
                "default": None,
            },
        ],
    }


def test_a_json_value_schema_requires_the_not_null_columns() -> None:
    columns = [("id", "STRING NOT NULL"), ("amount", "INT"), ("tags", "ARRAY<STRING>")]
    assert build_schema("json", columns, "orders-value") == {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "orders-value",
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "amount": {"type": ["integer", "null"]},
            "tags": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
        },
        "required": ["id"],
    }


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([("span", "INTERVAL")], "column 'span': INTERVAL has no Avro counterpart"),
        ([("m", "MAP<INT, STRING>")], "column 'm': Avro maps have string keys"),
        ([("ts", "TIMESTAMP(9)")], "column 'ts': Avro timestamps hold at most microseconds"),
        ([("x", "DECIMAL(")], "column 'x': 'DECIMAL(' is not a Flink SQL type"),
    ],
)
def test_a_type_avro_cannot_hold_names_its_column(
    columns: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(SchemaBuildError) as caught:
        build_schema("avro", columns, "t-value")
    assert str(caught.value).startswith(message)


# -- compatibility, field by field ------------------------------------------------------------

V1 = build_schema("avro", [("id", "STRING NOT NULL"), ("amount", "INT")], "t")


def test_adding_a_required_field_breaks_backward_and_names_it() -> None:
    v2 = build_schema(
        "avro", [("id", "STRING NOT NULL"), ("amount", "INT"), ("region", "STRING NOT NULL")], "t"
    )
    [problem] = incompatible_fields(v2, V1, "AVRO", "BACKWARD", "version 1")
    assert problem.field == "region"
    assert problem.reason == "the new schema requires it (no default) but version 1 lacks it"
    assert incompatible_fields(v2, V1, "AVRO", "FORWARD") == []
    assert incompatible_fields(v2, V1, "AVRO", "NONE") == []


def test_removing_a_required_field_breaks_forward_but_not_backward() -> None:
    v2 = build_schema("avro", [("amount", "INT")], "t")
    assert incompatible_fields(v2, V1, "AVRO", "BACKWARD") == []
    [problem] = incompatible_fields(v2, V1, "AVRO", "FULL_TRANSITIVE")
    assert problem.field == "id"


def test_a_changed_type_names_both_types_and_promotions_are_fine() -> None:
    v2 = build_schema("avro", [("id", "INT NOT NULL"), ("amount", "BIGINT")], "t")
    [problem] = incompatible_fields(v2, V1, "AVRO", "BACKWARD")
    assert (problem.field, problem.reason) == (
        "id",
        "it is int in the new schema but string in the registered schema",
    )


def test_the_field_is_read_from_registry_messages() -> None:
    confluent = [
        "Incompatibility{type:READER_FIELD_MISSING_DEFAULT_VALUE, location:/fields/2, "
        "message:region, reader:{...}, writer:{...}}"
    ]
    assert field_from_messages(confluent, V1) == "region"
    assert field_from_messages(["list of diff types: [region at /fields/2]"], V1) == "region"
    assert field_from_messages(["{type:TYPE_MISMATCH, location:/fields/1}"], V1) == "amount"
    assert field_from_messages([], V1) is None


# -- planning a subject -----------------------------------------------------------------------


def _artifact(schema: object, level: str | None = "BACKWARD") -> Artifact:
    spec = {"subject": "t-value", "schemaType": "AVRO", "schema": schema, "compatibility": level}
    return Artifact("kafka", "schema", "t-value", spec)


def _registered(schema: object, version: int = 1) -> Registered:
    return Registered("t-value", version, 7, json.dumps(schema), "AVRO")


def _never(*_: object) -> Verdict:
    raise AssertionError("no compatibility check expected")


def test_a_missing_subject_is_created_with_its_level() -> None:
    change = plan_schema(_artifact(V1), LiveSubject(None, None), None, _never, "model.t")
    assert change is not None and change.action == "create"
    assert change.diff == {
        "version": (None, 1),
        "fields.id": (None, "string"),
        "fields.amount": (None, "int (nullable)"),
        "compatibility": (None, "BACKWARD"),
    }


def test_a_compatible_change_registers_a_new_version() -> None:
    v2 = build_schema(
        "avro", [("id", "STRING NOT NULL"), ("amount", "INT"), ("note", "STRING")], "t"
    )
    live = LiveSubject(_registered(V1), "BACKWARD")
    change = plan_schema(_artifact(v2), live, None, lambda *_: Verdict(True), "model.t")
    assert change is not None and change.action == "update"
    assert change.diff == {"version": (1, 2), "fields.note": (None, "string (nullable)")}
    assert change.payload["register"] is True and change.payload["compatibility"] is None


def test_an_incompatible_change_is_a_plan_error_naming_subject_and_field() -> None:
    v2 = build_schema("avro", [("id", "STRING NOT NULL"), ("region", "STRING NOT NULL")], "t")
    live = LiveSubject(_registered(V1), "BACKWARD")
    with pytest.raises(PlanError) as caught:
        plan_schema(_artifact(v2), live, None, lambda *_: Verdict(False), "model.t", "t")
    message = caught.value.message
    assert "schema subject 't-value' (model 't')" in message
    assert "not BACKWARD compatible with version 1: field 'region'" in message
    assert "compatibility level is BACKWARD" in (caught.value.hint or "")


def test_a_new_level_is_an_update_of_the_config_only() -> None:
    live = LiveSubject(_registered(V1), "NONE")
    change = plan_schema(_artifact(V1, "FULL"), live, None, _never, "model.t")
    assert change is not None
    assert change.diff == {"compatibility": ("NONE", "FULL")}
    assert change.payload["register"] is False


def test_a_source_subject_missing_a_declared_column_is_named() -> None:
    registered = build_schema("avro", [("id", "STRING NOT NULL")], "t")
    declared = _artifact(V1, None)
    problems = source_mismatches(declared, _registered(registered))
    assert problems == ["subject 't-value': field 'amount': version 1 has no such field"]
    assert source_mismatches(declared, None) == ["subject 't-value' does not exist in the registry"]
