"""Registry schemas built from a node's columns, and a field-level reading of compatibility.

Columns carry Flink SQL types (``DECIMAL(12,2)``, ``TIMESTAMP(3)``, ``ROW<a INT>`` ...), nullable
unless they say ``NOT NULL``. For ``format: avro`` they become an Avro record named as Flink's
``avro-confluent`` format names it (``org.apache.flink.avro.generated.record``), so a Flink job
writing the topic registers the very schema sluice registered rather than a second version;
nullable columns are ``["null", T]`` unions with a null default. For ``format: json`` they
become a JSON Schema (draft-07) object.

The registry answers a compatibility check with yes or no (Apicurio gives no reason at all), so
:func:`incompatible_fields` reads the two schemas field by field to name what breaks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AVRO_NAMESPACE = "org.apache.flink.avro.generated"
JSON_SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"
SCHEMA_TYPES = {"avro": "AVRO", "json": "JSON"}
LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


class SchemaBuildError(ValueError):
    """A column type that has no counterpart in the schema language (the message says which)."""


# -- Flink SQL types ------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlType:
    """One parsed Flink SQL type: ``name`` upper-cased, numeric ``params``, element types in
    ``items`` (ARRAY, MULTISET, MAP key and value) and named ``fields`` (ROW)."""

    name: str
    params: tuple[int, ...] = ()
    items: tuple[SqlType, ...] = ()
    fields: tuple[tuple[str, SqlType], ...] = ()
    nullable: bool = True
    local_time_zone: bool = False


_TOKEN = re.compile(r"\s*(?:(`(?:[^`]|``)*`)|([A-Za-z_][A-Za-z0-9_$]*)|(\d+)|([<>(),]))")
_SYNONYMS = {
    "INTEGER": "INT",
    "VARCHAR": "STRING",
    "CHAR": "STRING",
    "CHARACTER": "STRING",
    "VARBINARY": "BYTES",
    "BINARY": "BYTES",
    "NUMERIC": "DECIMAL",
    "DEC": "DECIMAL",
    "TIMESTAMP_LTZ": "TIMESTAMP",
}


def parse_type(text: str) -> SqlType:
    """The :class:`SqlType` of a Flink type string; a SchemaBuildError when it does not parse."""
    tokens = _tokens(text)
    parsed, pos = _parse(tokens, 0, text)
    if pos != len(tokens):
        raise SchemaBuildError(f"'{text}' is not a Flink SQL type (unexpected '{tokens[pos]}')")
    return parsed


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SchemaBuildError(f"'{text}' is not a Flink SQL type")
        tokens.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return tokens


def _parse(tokens: list[str], pos: int, text: str) -> tuple[SqlType, int]:
    def peek(offset: int = 0) -> str:
        index = pos + offset
        return tokens[index].upper() if index < len(tokens) else ""

    def expect(token: str) -> None:
        nonlocal pos
        if peek() != token:
            raise SchemaBuildError(f"'{text}' is not a Flink SQL type (expected '{token}')")
        pos += 1

    if not peek():
        raise SchemaBuildError(f"'{text}' is not a Flink SQL type")
    raw = peek()
    pos += 1
    if raw == "DOUBLE" and peek() == "PRECISION":
        pos += 1
    name = _SYNONYMS.get(raw, raw)
    local = raw == "TIMESTAMP_LTZ"
    params: list[int] = []
    items: list[SqlType] = []
    fields: list[tuple[str, SqlType]] = []
    if peek() == "(":
        pos += 1
        while peek() != ")":
            if not peek().isdigit():
                raise SchemaBuildError(f"'{text}' is not a Flink SQL type (expected a number)")
            params.append(int(tokens[pos]))
            pos += 1
            if peek() == ",":
                pos += 1
        expect(")")
    if peek() == "<":
        pos += 1
        while peek() != ">":
            if name == "ROW":
                field_name = tokens[pos].strip("`").replace("``", "`")
                pos += 1
                child, pos = _parse(tokens, pos, text)
                fields.append((field_name, child))
            else:
                child, pos = _parse(tokens, pos, text)
                items.append(child)
            if peek() == ",":
                pos += 1
        expect(">")
    if peek() == "WITH" and peek(1) == "LOCAL":
        for word in ("WITH", "LOCAL", "TIME", "ZONE"):
            expect(word)
        local = True
    elif peek() == "WITHOUT":
        for word in ("WITHOUT", "TIME", "ZONE"):
            expect(word)
    nullable = True
    if peek() == "NOT" and peek(1) == "NULL":
        pos += 2
        nullable = False
    elif peek() == "NULL":
        pos += 1
    return SqlType(name, tuple(params), tuple(items), tuple(fields), nullable, local), pos


# -- Avro -------------------------------------------------------------------------------------


def avro_type(sql: SqlType, path: str = "record") -> Any:
    """The Avro type of ``sql``, nullable ones as ``["null", T]``."""
    base = _avro_base(sql, path)
    return ["null", base] if sql.nullable else base


def _avro_base(sql: SqlType, path: str) -> Any:
    name = sql.name
    simple = {
        "BOOLEAN": "boolean",
        "TINYINT": "int",
        "SMALLINT": "int",
        "INT": "int",
        "BIGINT": "long",
        "FLOAT": "float",
        "DOUBLE": "double",
        "STRING": "string",
        "BYTES": "bytes",
    }
    if name in simple:
        return simple[name]
    if name == "DECIMAL":
        precision, scale = (list(sql.params) + [10, 0][len(sql.params) :])[:2]
        return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    if name == "DATE":
        return {"type": "int", "logicalType": "date"}
    if name == "TIME":
        return {"type": "int", "logicalType": "time-millis"}
    if name == "TIMESTAMP":
        precision = sql.params[0] if sql.params else 6
        if precision > 6:
            raise SchemaBuildError(
                f"Avro timestamps hold at most microseconds, not TIMESTAMP({precision})"
            )
        unit = "millis" if precision <= 3 else "micros"
        return {"type": "long", "logicalType": f"timestamp-{unit}"}
    if name == "ARRAY" and len(sql.items) == 1:
        return {"type": "array", "items": avro_type(sql.items[0], path)}
    if name == "MULTISET" and len(sql.items) == 1:
        return {"type": "map", "values": "int"} if _is_string(sql.items[0]) else _no_map_key(sql)
    if name == "MAP" and len(sql.items) == 2:
        if not _is_string(sql.items[0]):
            return _no_map_key(sql)
        return {"type": "map", "values": avro_type(sql.items[1], path)}
    if name == "ROW":
        return avro_record(sql.fields, path)
    raise SchemaBuildError(f"{name} has no Avro counterpart that sluice knows")


def _is_string(sql: SqlType) -> bool:
    return sql.name == "STRING"


def _no_map_key(sql: SqlType) -> Any:
    raise SchemaBuildError(f"Avro maps have string keys; {sql.name} here has another key type")


def avro_record(fields: Sequence[tuple[str, SqlType]], name: str = "record") -> dict[str, Any]:
    """A record of ``fields``; nested rows are named ``<outer>_<field>`` as Flink names them."""
    out: list[dict[str, Any]] = []
    for field_name, sql in fields:
        entry: dict[str, Any] = {"name": field_name, "type": avro_type(sql, f"{name}_{field_name}")}
        if sql.nullable:
            entry["default"] = None
        out.append(entry)
    return {"type": "record", "name": name, "namespace": AVRO_NAMESPACE, "fields": out}


# -- JSON Schema ------------------------------------------------------------------------------


def json_type(sql: SqlType) -> dict[str, Any]:
    """The JSON Schema of ``sql``; nullable ones accept null too."""
    base = _json_base(sql)
    if sql.nullable:
        base = {**base, "type": [base["type"], "null"]}
    return base


def _json_base(sql: SqlType) -> dict[str, Any]:
    name = sql.name
    if name == "BOOLEAN":
        return {"type": "boolean"}
    if name in ("TINYINT", "SMALLINT", "INT", "BIGINT"):
        return {"type": "integer"}
    if name in ("FLOAT", "DOUBLE", "DECIMAL"):
        return {"type": "number"}
    if name == "BYTES":  # Flink's json format writes bytes as base64
        return {"type": "string", "contentEncoding": "base64"}
    if name == "DATE":
        return {"type": "string", "format": "date"}
    # Flink's json format writes "2024-01-31 10:00:00.000" by default, which is not the RFC 3339
    # text JSON Schema's date-time format means: a plain string is the honest schema
    if name in ("STRING", "TIME", "TIMESTAMP"):
        return {"type": "string"}
    if name in ("ARRAY", "MULTISET") and len(sql.items) == 1:
        if name == "MULTISET":
            return {"type": "object", "additionalProperties": {"type": "integer"}}
        return {"type": "array", "items": json_type(sql.items[0])}
    if name == "MAP" and len(sql.items) == 2:
        return {"type": "object", "additionalProperties": json_type(sql.items[1])}
    if name == "ROW":
        return json_object(sql.fields)
    raise SchemaBuildError(f"{name} has no JSON Schema counterpart that sluice knows")


def json_object(fields: Sequence[tuple[str, SqlType]]) -> dict[str, Any]:
    """An object with one property per field; NOT NULL fields are required."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: json_type(sql) for name, sql in fields},
    }
    required = [name for name, sql in fields if not sql.nullable]
    if required:
        schema["required"] = required
    return schema


# -- whole schemas ----------------------------------------------------------------------------


def build_schema(fmt: str, columns: Sequence[tuple[str, str]], title: str) -> dict[str, Any]:
    """The value (or key) schema of ``columns`` (name, Flink type) in ``fmt`` (avro or json).

    Raises SchemaBuildError naming the column whose type does not translate.
    """
    fields = []
    for name, text in columns:
        try:
            fields.append((name, parse_type(text)))
        except SchemaBuildError as exc:
            raise SchemaBuildError(f"column '{name}': {exc}") from None
    try:
        if fmt == "avro":
            return avro_record(fields)
        if fmt == "json":
            return {"$schema": JSON_SCHEMA_DRAFT, "title": title, **json_object(fields)}
    except SchemaBuildError as exc:
        raise SchemaBuildError(f"{_column_of(exc, fields)}{exc}") from None
    raise SchemaBuildError(f"format {fmt} has no registry schema sluice builds")


def _column_of(exc: SchemaBuildError, fields: Sequence[tuple[str, SqlType]]) -> str:
    # re-run field by field to name the culprit (cheap: only on the error path)
    for name, sql in fields:
        try:
            avro_type(sql)
            json_type(sql)
        except SchemaBuildError:
            return f"column '{name}': "
    return ""


def schema_text(schema: Any) -> str:
    """The text sent to the registry: compact, keys in the order they were built."""
    return json.dumps(schema, separators=(",", ":"))


def same_schema(a: Any, b: Any) -> bool:
    """Whether two schemas (parsed, or as registry text) say the same thing."""
    return _parsed(a) == _parsed(b)


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- reading compatibility field by field -----------------------------------------------------


@dataclass(frozen=True)
class FieldShape:
    """A top-level field as far as compatibility is concerned."""

    type: str
    nullable: bool
    optional: bool  # an Avro default, or a JSON property that is not required


@dataclass(frozen=True)
class Incompatibility:
    field: str
    reason: str


def field_shapes(schema: Any, schema_type: str) -> dict[str, FieldShape]:
    """Top-level fields of an Avro record or a JSON Schema object (empty for anything else)."""
    parsed = _parsed(schema)
    if not isinstance(parsed, dict):
        return {}
    if schema_type == "JSON":
        required = set(parsed.get("required") or ())
        shapes = {}
        for name, prop in (parsed.get("properties") or {}).items():
            types = prop.get("type") if isinstance(prop, dict) else None
            types = types if isinstance(types, list) else [types]
            label = "|".join(sorted(str(t) for t in types if t != "null"))
            shapes[name] = FieldShape(label, "null" in types, name not in required)
        return shapes
    shapes = {}
    for entry in parsed.get("fields") or ():
        kind = entry.get("type")
        branches = kind if isinstance(kind, list) else [kind]
        label = "|".join(_avro_label(b) for b in branches if b != "null")
        shapes[entry["name"]] = FieldShape(label, "null" in branches, "default" in entry)
    return shapes


def _avro_label(kind: Any) -> str:
    if isinstance(kind, str):
        return kind
    if not isinstance(kind, dict):
        return "union"
    logical = kind.get("logicalType")
    if logical == "decimal":
        return f"decimal({kind.get('precision')},{kind.get('scale', 0)})"
    if logical:
        return str(logical)
    if kind.get("type") == "array":
        return f"array<{_avro_label(kind.get('items'))}>"
    if kind.get("type") == "map":
        return f"map<{_avro_label(kind.get('values'))}>"
    if kind.get("type") in ("record", "enum", "fixed"):
        return f"{kind['type']} {kind.get('name')}"
    return str(kind.get("type"))


# writer type -> reader types that can read it (Avro's promotions; JSON integer is a number)
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
    "integer": {"number"},
}


def reader_problems(
    reader: Mapping[str, FieldShape],
    writer: Mapping[str, FieldShape],
    reader_is: str,
    writer_is: str,
    strict: bool = False,
) -> list[Incompatibility]:
    """Why records written with ``writer`` cannot be read with ``reader``, field by field.

    ``strict`` also counts a reader field the writer lacks when it has a default: a declared
    column that the registry never heard of is worth a failure in a schema test.
    """
    problems = []
    for name, wanted in reader.items():
        had = writer.get(name)
        if had is None:
            if strict and wanted.optional:
                problems.append(Incompatibility(name, f"{writer_is} has no such field"))
            elif not wanted.optional:
                problems.append(
                    Incompatibility(
                        name, f"{reader_is} requires it (no default) but {writer_is} lacks it"
                    )
                )
        elif had.type != wanted.type and wanted.type not in _PROMOTIONS.get(had.type, ()):
            problems.append(
                Incompatibility(
                    name, f"it is {wanted.type} in {reader_is} but {had.type} in {writer_is}"
                )
            )
        elif had.nullable and not wanted.nullable:
            problems.append(
                Incompatibility(name, f"it may be null in {writer_is} but not in {reader_is}")
            )
    return problems


def incompatible_fields(
    new: Any, old: Any, schema_type: str, level: str, old_is: str = "the registered schema"
) -> list[Incompatibility]:
    """The fields that make ``new`` break ``level`` against ``old`` (NONE: never any)."""
    new_shapes = field_shapes(new, schema_type)
    old_shapes = field_shapes(old, schema_type)
    problems: list[Incompatibility] = []
    if level.startswith(("BACKWARD", "FULL")):  # new readers read old records
        problems += reader_problems(new_shapes, old_shapes, "the new schema", old_is)
    if level.startswith(("FORWARD", "FULL")):  # old readers read new records
        problems += reader_problems(old_shapes, new_shapes, old_is, "the new schema")
    return problems


_MESSAGE_FIELD = (
    re.compile(r"message:\s*([A-Za-z_][\w.]*)"),  # Confluent: Incompatibility{... message:x ...}
    re.compile(r"([A-Za-z_]\w*) at /fields/"),  # Apicurio: "req at /fields/2"
    re.compile(r"field '([A-Za-z_]\w*)'"),
)
_MESSAGE_INDEX = re.compile(r"/fields/(\d+)")


def field_from_messages(messages: Sequence[str], schema: Any) -> str | None:
    """The field a registry's compatibility messages name, when they name one."""
    for message in messages:
        for pattern in _MESSAGE_FIELD:
            match = pattern.search(message)
            if match:
                return match.group(1)
    parsed = _parsed(schema)
    fields = parsed.get("fields") if isinstance(parsed, dict) else None
    for message in messages:
        match = _MESSAGE_INDEX.search(message)
        if match and fields and int(match.group(1)) < len(fields):
            return str(fields[int(match.group(1))].get("name"))
    return None
