"""Flink SQL text: literals, identifiers, types and ``CREATE TEMPORARY TABLE`` statements.

Everything generated goes through :func:`literal` (single quotes doubled) or
:func:`identifier` (backticks, see :func:`sluice.render.quote`), so a name or value from the
project can never end a statement early.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sluice.errors import Location, ProjectError
from sluice.render import quote

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Flink type names, precisions and nested ROW/ARRAY/MAP types: words, digits, spaces, commas,
# brackets and quoted field names. No quote, semicolon or comment can end the statement.
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_ ,()<>`]*$")


def literal(value: str) -> str:
    """A Flink SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def identifier(name: str, what: str, location: Location) -> str:
    """``name`` as a quoted identifier; names with control characters are refused."""
    if not name or _CONTROL.search(name):
        raise ProjectError(
            f"{what} {name!r} cannot be used as a Flink SQL identifier",
            location=location,
            hint="use a name without line breaks or control characters",
        )
    return quote(name)


def column_type(text: str, column: str, location: Location) -> str:
    """A declared or inferred Flink type, checked to be only a type."""
    if not _is_type(text):
        raise ProjectError(
            f"column '{column}': '{text}' is not a Flink SQL type",
            location=location,
            hint="write a type such as STRING, BIGINT, DECIMAL(12,2) or TIMESTAMP(3)",
        )
    return text.strip()


@lru_cache(maxsize=1024)
def _is_type(text: str) -> bool:
    # a project has few distinct types, each checked for every column of every job
    balanced = text.count("(") == text.count(")") and text.count("<") == text.count(">")
    return bool(_TYPE.match(text.strip())) and balanced and "--" not in text


def interval(milliseconds: int) -> str:
    """``INTERVAL '5' SECOND`` (fractions of a second as ``'0.250'``)."""
    seconds, millis = divmod(milliseconds, 1000)
    amount = str(seconds) if millis == 0 else f"{seconds}.{millis:03d}"
    return f"INTERVAL {literal(amount)} SECOND"


@dataclass(frozen=True)
class Table:
    """A temporary table of one job: its quoted name, columns, constraints and options."""

    name: str  # quoted
    columns: Sequence[tuple[str, str]]  # (quoted name, type)
    options: Mapping[str, str]
    watermark: tuple[str, int] | None = None  # (quoted column, delay in ms)
    primary_key: Sequence[str] = ()  # quoted names

    def create_statement(self) -> str:
        lines = [f"  {name} {type_}" for name, type_ in self.columns]
        if self.watermark is not None:
            column, delay = self.watermark
            lines.append(f"  WATERMARK FOR {column} AS {column} - {interval(delay)}")
        if self.primary_key:
            lines.append(f"  PRIMARY KEY ({', '.join(self.primary_key)}) NOT ENFORCED")
        options = ",\n".join(f"  {literal(k)} = {literal(v)}" for k, v in self.options.items())
        body = ",\n".join(lines)
        return f"CREATE TEMPORARY TABLE {self.name} (\n{body}\n) WITH (\n{options}\n)"


def set_statement(key: str, value: str) -> str:
    return f"SET {literal(key)} = {literal(value)}"
