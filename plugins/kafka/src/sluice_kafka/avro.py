"""Avro records in the Schema Registry's wire format, decoded without extra dependencies.

A record is a zero byte, the schema id (4 bytes, big endian) and the Avro binary encoding of
the value. The writer's schema is fetched once per id from ``runtime.schema_registry``
(``GET /schemas/ids/<id>``) and compiled into nested closures, one per type of the schema.
Logical types: ``decimal`` becomes :class:`~decimal.Decimal`, ``timestamp-millis`` and
``timestamp-micros`` a UTC datetime; the others keep their underlying value.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from sluice.errors import RemoteError
from sluice_kafka.config import SchemaRegistryConfig

Reader = Callable[["_Buffer"], Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AvroError(Exception):
    """A record that does not decode with its writer's schema."""


class _Buffer:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise AvroError("the record ends early")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk


def _long(buf: _Buffer) -> int:
    data, pos = buf.data, buf.pos
    shift = result = 0
    while True:
        if pos >= len(data):
            raise AvroError("the record ends inside a number")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    buf.pos = pos
    return (result >> 1) ^ -(result & 1)


def _bytes(buf: _Buffer) -> bytes:
    return buf.take(_long(buf))


def _string(buf: _Buffer) -> str:
    return _bytes(buf).decode("utf-8")


def _boolean(buf: _Buffer) -> bool:
    return buf.take(1) != b"\x00"


def _float(buf: _Buffer) -> float:
    value: float = struct.unpack("<f", buf.take(4))[0]
    return value


def _double(buf: _Buffer) -> float:
    value: float = struct.unpack("<d", buf.take(8))[0]
    return value


_PRIMITIVES: dict[str, Reader] = {
    "null": lambda buf: None,
    "boolean": _boolean,
    "int": _long,
    "long": _long,
    "float": _float,
    "double": _double,
    "bytes": _bytes,
    "string": _string,
}


def compile_schema(schema: Any) -> Reader:
    """A reader of values written with ``schema`` (parsed JSON)."""
    return _Compiler().compile(schema, None)


class _Compiler:
    def __init__(self) -> None:
        self.named: dict[str, Reader] = {}

    def compile(self, schema: Any, namespace: str | None) -> Reader:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _PRIMITIVES[schema]
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            found = self.named.get(full) or self.named.get(schema)
            if found is None:
                raise AvroError(f"the schema names an unknown type '{schema}'")
            return found
        if isinstance(schema, list):
            branches = [self.compile(s, namespace) for s in schema]

            def union(buf: _Buffer) -> Any:
                index = _long(buf)
                if not 0 <= index < len(branches):
                    raise AvroError(f"union branch {index} does not exist")
                return branches[index](buf)

            return union
        if not isinstance(schema, Mapping):
            raise AvroError(f"not an Avro schema: {schema!r}")
        kind = schema.get("type")
        reader = self._complex(schema, kind, namespace)
        return _logical(schema, reader)

    def _name(self, schema: Mapping[str, Any], namespace: str | None) -> tuple[str, str | None]:
        name = str(schema.get("name", ""))
        space = schema.get("namespace", namespace)
        if "." in name:
            return name, name.rpartition(".")[0]
        return (f"{space}.{name}" if space else name), space

    def _complex(self, schema: Mapping[str, Any], kind: Any, namespace: str | None) -> Reader:
        if kind == "record" or kind == "error":
            full, space = self._name(schema, namespace)
            fields: list[tuple[str, Reader]] = []

            def record(buf: _Buffer) -> dict[str, Any]:
                return {name: read(buf) for name, read in fields}

            self.named[full] = record  # recursive types refer to themselves
            self.named.setdefault(full.rpartition(".")[2], record)
            fields.extend((f["name"], self.compile(f["type"], space)) for f in schema["fields"])
            return record
        if kind == "enum":
            full, _ = self._name(schema, namespace)
            symbols = list(schema["symbols"])

            def enum(buf: _Buffer) -> str:
                index = _long(buf)
                if not 0 <= index < len(symbols):
                    raise AvroError(f"enum index {index} does not exist")
                return symbols[index]

            self.named[full] = enum
            self.named.setdefault(full.rpartition(".")[2], enum)
            return enum
        if kind == "fixed":
            full, _ = self._name(schema, namespace)
            size = int(schema["size"])

            def fixed(buf: _Buffer) -> bytes:
                return buf.take(size)

            self.named[full] = fixed
            self.named.setdefault(full.rpartition(".")[2], fixed)
            return fixed
        if kind == "array":
            item = self.compile(schema["items"], namespace)

            def array(buf: _Buffer) -> list[Any]:
                items = []
                for _ in _blocks(buf):
                    items.append(item(buf))
                return items

            return array
        if kind == "map":
            value = self.compile(schema["values"], namespace)

            def mapping(buf: _Buffer) -> dict[str, Any]:
                entries = {}
                for _ in _blocks(buf):
                    key = _string(buf)
                    entries[key] = value(buf)
                return entries

            return mapping
        if isinstance(kind, str | list | dict):
            return self.compile(kind, namespace)  # {"type": "string", "logicalType": ...}
        raise AvroError(f"not an Avro schema: {dict(schema)!r}")


def _blocks(buf: _Buffer) -> Any:
    while True:
        count = _long(buf)
        if count == 0:
            return
        if count < 0:
            count = -count
            _long(buf)  # the block's size in bytes
        yield from range(count)


def _logical(schema: Mapping[str, Any], reader: Reader) -> Reader:
    logical = schema.get("logicalType")
    if logical == "decimal" and schema.get("type") in ("bytes", "fixed"):
        scale = int(schema.get("scale", 0))

        def decimal(buf: _Buffer) -> Decimal:
            unscaled = int.from_bytes(reader(buf), "big", signed=True)
            return Decimal(unscaled).scaleb(-scale)

        return decimal
    if logical == "timestamp-millis":
        return lambda buf: _EPOCH + timedelta(milliseconds=reader(buf))
    if logical == "timestamp-micros":
        return lambda buf: _EPOCH + timedelta(microseconds=reader(buf))
    return reader


class Decoder:
    """Decodes registry-framed Avro records, fetching each writer schema once."""

    def __init__(self, registry: SchemaRegistryConfig | None, timeout: float = 10.0) -> None:
        self.registry = registry
        self.timeout = timeout
        self.readers: dict[int, Reader] = {}

    def reader(self, schema_id: int) -> Reader:
        reader = self.readers.get(schema_id)
        if reader is None:
            reader = self.readers[schema_id] = compile_schema(self.fetch(schema_id))
        return reader

    def fetch(self, schema_id: int) -> Any:
        if self.registry is None:
            raise RemoteError(
                "the topic holds Avro records but runtime.schema_registry is not configured",
                hint="add runtime.schema_registry: {url: ...}",
            )
        auth = None
        if self.registry.basic_auth_user and self.registry.basic_auth_password:
            auth = (
                self.registry.basic_auth_user,
                self.registry.basic_auth_password.get_secret_value(),
            )
        url = f"{self.registry.url}/schemas/ids/{schema_id}"
        try:
            answer = httpx.get(url, auth=auth, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"cannot reach the schema registry at {self.registry.url}: {exc}"
            ) from exc
        if answer.status_code != 200:
            raise RemoteError(
                f"the schema registry has no schema with id {schema_id} (HTTP {answer.status_code})"
            )
        body = answer.json()
        if body.get("schemaType", "AVRO") != "AVRO":
            raise AvroError(f"schema {schema_id} is {body['schemaType']}, not Avro")
        return json.loads(body["schema"])

    def decode(self, raw: bytes) -> Any:
        if len(raw) < 5 or raw[0] != 0:
            raise AvroError("not in the registry's wire format (a zero byte, then a schema id)")
        schema_id = int.from_bytes(raw[1:5], "big")
        buf = _Buffer(raw, 5)
        value = self.reader(schema_id)(buf)
        if buf.pos != len(raw):
            raise AvroError(f"{len(raw) - buf.pos} bytes left over after the value")
        return value

    def decode_all(self, raw: Sequence[bytes | None]) -> tuple[list[Any], dict[int, str]]:
        values: list[Any] = []
        problems: dict[int, str] = {}
        for i, data in enumerate(raw):
            if data is None:
                values.append(None)
                continue
            try:
                values.append(self.decode(data))
            except (AvroError, UnicodeDecodeError, KeyError, TypeError) as exc:
                values.append(None)
                problems[i] = f"not Avro: {exc}"
        return values, problems


def encode_for_tests(schema: Any, value: Any, schema_id: int) -> bytes:
    """The wire-format bytes of ``value`` for the simple schemas tests use (records of
    primitives, nullable unions, enums and arrays): lets tests produce Avro without a library."""
    out = bytearray(b"\x00" + schema_id.to_bytes(4, "big"))
    _encode(schema, value, out, {})
    return bytes(out)


def _zigzag(value: int, out: bytearray) -> None:
    number = (value << 1) ^ (value >> 63)
    while number & ~0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)


def _encode(schema: Any, value: Any, out: bytearray, named: dict[str, Any]) -> None:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        for index, branch in enumerate(schema):
            if (value is None) == (branch == "null"):
                _zigzag(index, out)
                _encode(branch, value, out, named)
                return
        raise ValueError(f"no branch of {schema} fits {value!r}")
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind == "null":
        return
    if kind == "boolean":
        out.append(1 if value else 0)
    elif kind in ("int", "long"):
        _zigzag(int(value), out)
    elif kind == "double":
        out.extend(struct.pack("<d", value))
    elif kind == "float":
        out.extend(struct.pack("<f", value))
    elif kind in ("string", "bytes"):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        _zigzag(len(data), out)
        out.extend(data)
    elif kind == "record":
        named[schema["name"]] = schema
        for f in schema["fields"]:
            _encode(f["type"], value.get(f["name"]), out, named)
    elif kind == "enum":
        named[schema["name"]] = schema
        _zigzag(schema["symbols"].index(value), out)
    elif kind == "array":
        if value:
            _zigzag(len(value), out)
            for item in value:
                _encode(schema["items"], item, out, named)
        _zigzag(0, out)
    else:
        raise ValueError(f"encode_for_tests does not write {kind}")
