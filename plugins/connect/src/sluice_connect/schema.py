"""Kafka Connect schemas for JSON topics whose columns sluice knows.

Sinks that write to tables (the JDBC sinks) need records with a schema, while Flink and most
producers write plain JSON. Kafka Connect 4.2 lets the JsonConverter take the schema from its
``schema.content`` setting (KIP-1054), so sluice writes there the schema it already knows from
the declared or analysed columns of the sink's input.

Flink's JSON format writes dates, times and timestamps as text, so they stay strings here: the
Connect logical types for them expect epoch numbers and would reject every record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sluice.nodes import ColumnInfo

_DECIMAL = re.compile(r"^(?:DECIMAL|DEC|NUMERIC)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")
_SIMPLE = {
    "BOOLEAN": "boolean",
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INT": "int32",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "FLOAT": "float",  # the JsonConverter's names: float and double, not float32/64
    "REAL": "float",
    "DOUBLE": "double",
    "DOUBLE PRECISION": "double",
    "BYTES": "bytes",  # base64 text in JSON, which the converter decodes
}
_TEXT = re.compile(r"^(?:STRING|VARCHAR|CHAR|DATE|TIME|TIMESTAMP|TIMESTAMP_LTZ)\b")


def field_schema(sql_type: str) -> dict[str, Any] | None:
    """The Connect schema of one column of Flink SQL type ``sql_type`` (None: not mappable)."""
    text = " ".join(sql_type.upper().replace("NOT NULL", "").split())
    if text in _SIMPLE:
        return {"type": _SIMPLE[text]}
    if text.startswith(("VARBINARY", "BINARY")):
        return {"type": "bytes"}
    if _TEXT.match(text):
        return {"type": "string"}
    decimal = _DECIMAL.match(text)
    if decimal:
        precision, scale = decimal.group(1) or "10", decimal.group(2) or "0"
        return {
            "type": "bytes",
            "name": "org.apache.kafka.connect.data.Decimal",
            "version": 1,
            "parameters": {"scale": scale, "connect.decimal.precision": precision},
        }
    return None


def struct_schema(columns: Sequence[ColumnInfo], key: Sequence[str] = ()) -> dict[str, Any] | None:
    """A struct schema of ``columns`` (key columns required), or None when a type is unknown."""
    fields = []
    for column in columns:
        schema = field_schema(column.type) if column.type else None
        if schema is None:
            return None
        fields.append({"field": column.name, "optional": column.name not in key, **schema})
    return {"type": "struct", "optional": False, "fields": fields} if fields else None
