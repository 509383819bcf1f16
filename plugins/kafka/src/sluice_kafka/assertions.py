"""The assertions of a sample test, each a small function over the decoded records.

:func:`build` turns one ``{kind: arguments}`` entry of a test into a :data:`Check`: a function
that takes a :class:`SampleView` (decoded values, Kafka timestamps, the time of the run) and
returns the :class:`Violation` s it found. Arguments are validated (and regular expressions and
SQL compiled) once, when the check is built; a check that cannot be built raises
:class:`CheckError`, which makes the test an error rather than a failure.

Column values follow SQL: a null (or missing) value satisfies every column assertion but
``not_null``, and a record without a value (a tombstone) is skipped by the column assertions.
Reasons never quote the value of a column the view hides (sensitive columns): they show
:data:`~sluice.governance.MASK` instead.

``expression`` evaluates a SQL boolean per record. It is parsed with sluice's Flink dialect and
compiled here into plain Python closures over the parse tree (never ``eval``): comparisons,
AND/OR/NOT with SQL's three-valued logic, arithmetic, IS [NOT] NULL/TRUE/FALSE, IN, LIKE,
BETWEEN, CASE, CAST and a few string and number functions. A record fails when the expression
is FALSE; NULL passes, as in a CHECK constraint.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from sqlglot import exp

from sluice.governance import MASK
from sluice.project import schema
from sluice.sql import Flink, SqlSyntaxError, parse

SHOWN = 60  # characters of a value quoted in a reason


class CheckError(Exception):
    """An assertion that cannot be evaluated: bad arguments, an unsupported expression."""


class EvalError(Exception):
    """An expression that cannot be evaluated on one record (e.g. 'a' > 1)."""


@dataclass(frozen=True)
class Violation:
    """One record (``index`` into the sample) that breaks one assertion, or the whole sample
    (``index`` None: row_count, freshness of an empty sample)."""

    index: int | None
    assertion: str
    reason: str


@dataclass
class SampleView:
    """What the checks see: the decoded values (None for a tombstone), each record's Kafka
    timestamp in epoch ms, the time of the run, how to name a record in a reason, and the
    columns whose values a reason must not quote.

    The values are records (mappings), or rows of only some columns: then ``columns`` holds
    those, read as the rows were decoded, and only the checks that read columns (a
    :attr:`Check.reads`) can see them."""

    values: Sequence[Any]
    timestamps: Sequence[int | None] = ()
    now_ms: int = 0
    where: Callable[[int], str] = field(default=lambda i: f"record {i}")
    hidden: frozenset[str] = frozenset()
    columns: dict[str, list[Any]] = field(default_factory=dict, repr=False)  # read already

    def hides(self, column: str) -> bool:
        """Whether ``column`` (or the record ``a`` of a nested ``a.b``) is hidden."""
        return bool(self.hidden) and (
            column in self.hidden or column.split(".", 1)[0] in self.hidden
        )

    def shown(self, column: str, value: Any) -> str:
        """``value`` of ``column`` as a reason quotes it."""
        return show(MASK if self.hides(column) else value)

    def column(self, name: str) -> list[Any]:
        """The values of one column, record by record (read once, shared by the checks):
        :data:`MISSING` where a record lacks it, :data:`SKIP` for records that are not
        records (tombstones)."""
        found = self.columns.get(name)
        if found is None:
            if "." in name:
                read = getter(name)
                found = [read(r) if isinstance(r, Mapping) else SKIP for r in self.values]
            else:
                try:  # decoded values are dicts or None: the fast path
                    found = [SKIP if r is None else r.get(name, MISSING) for r in self.values]
                except AttributeError:
                    found = [
                        r.get(name, MISSING) if isinstance(r, Mapping) else SKIP
                        for r in self.values
                    ]
            self.columns[name] = found
        return found


@dataclass(frozen=True)
class Check:
    """One assertion's check: called with a :class:`SampleView`, it returns the violations.
    ``reads`` names the columns it reads (with :meth:`SampleView.column`; none for a check of
    Kafka timestamps or of the count), or is None when it reads whole records; a decoder may
    then decode only the columns the checks read."""

    run: Callable[[SampleView], list[Violation]]
    reads: frozenset[str] | None = None

    def __call__(self, view: SampleView) -> list[Violation]:
        return self.run(view)


def build(assertion: Mapping[str, Any]) -> tuple[str, Check]:
    """The label (e.g. ``not_null(id)``) and the check of one ``{kind: arguments}`` entry."""
    if len(assertion) != 1:
        raise CheckError(f"an assertion is a one-key mapping, not {dict(assertion)!r}")
    ((kind, args),) = assertion.items()
    model = schema.ASSERTIONS.get(kind)
    maker = _MAKERS.get(kind)
    if model is None or maker is None:
        raise CheckError(f"unknown assertion '{kind}' (known: {', '.join(_MAKERS)})")
    try:
        parsed = model.model_validate(args if args is not None else {})
    except ValidationError as exc:
        raise CheckError(f"{kind}: {exc.errors()[0]['msg']}") from None
    return maker(parsed)


# -- values -------------------------------------------------------------------------------------


def show(value: Any, limit: int = SHOWN) -> str:
    """A value as JSON text (strings quoted), cut to ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


MISSING = object()
SKIP = object()  # a record without columns (tombstone)
_NULLS = {type(None), type(MISSING)}  # the types of a null, a missing value (and SKIP)


def getter(column: str) -> Callable[[Any], Any]:
    """Read ``column`` of a decoded record; ``a.b`` reads field b of a nested record a when
    the record has no column named ``a.b``. Missing columns read as :data:`MISSING`."""
    parts = column.split(".")
    if len(parts) == 1:
        return lambda record: record.get(column, MISSING)

    def nested(record: Any) -> Any:
        if column in record:
            return record[column]
        value = record
        for part in parts:
            if not isinstance(value, Mapping) or part not in value:
                return MISSING
            value = value[part]
        return value

    return nested


def _records(view: SampleView) -> list[tuple[int, Mapping[str, Any]]]:
    return [(i, v) for i, v in enumerate(view.values) if isinstance(v, Mapping)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# -- the assertions -----------------------------------------------------------------------------


def _not_null(spec: schema.NotNull) -> tuple[str, Check]:
    label = f"not_null({', '.join(spec.columns)})"

    def check(view: SampleView) -> list[Violation]:
        found = []
        for column in spec.columns:
            values = view.column(column)
            if _NULLS.isdisjoint(map(type, values)):  # the common case, at C speed
                continue
            for i in [i for i, v in enumerate(values) if v is None or v is MISSING]:
                word = "missing" if values[i] is MISSING else "null"
                found.append(Violation(i, label, f"{column} is {word}"))
        return found

    return label, Check(check, frozenset(spec.columns))


def _hashable(value: Any) -> Any:
    if isinstance(value, bool):
        return ("bool", value)  # True must not count as 1
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True, default=str))
    return value


def _accepted_values(spec: schema.AcceptedValues) -> tuple[str, Check]:
    label = f"accepted_values({spec.column})"
    accepted = {_hashable(v) for v in spec.values}
    # plain values pass this set at C speed; booleans and containers are checked exactly
    plain = {v for v in spec.values if not isinstance(v, bool | dict | list)}
    plain |= {None}
    listing = show(list(spec.values), 80)

    def check(view: SampleView) -> list[Violation]:
        values = view.column(spec.column)
        try:
            # the common case, at C speed: few distinct values, all accepted, none a boolean
            # (a set keeps one of 1 and True: none may equal a boolean)
            distinct = set(values) - {MISSING, SKIP}
            if distinct <= plain and distinct.isdisjoint((True, False)):
                return []
            suspects = [
                i
                for i, v in enumerate(values)
                if v not in plain or v.__class__ is bool
                if v is not MISSING and v is not SKIP
            ]
        except TypeError:  # an unhashable value (object, array): look at every record
            suspects = list(range(len(values)))
        found = []
        for i in suspects:
            value = values[i]
            if value is None or value is MISSING or value is SKIP:
                continue
            if _hashable(value) not in accepted:
                reason = f"{spec.column} = {view.shown(spec.column, value)} is not one of {listing}"
                found.append(Violation(i, label, reason))
        return found

    return label, Check(check, frozenset([spec.column]))


_NUMBERS = (int, float, Decimal)
_NUMBER_TYPES = set(_NUMBERS)


def _range(spec: schema.Range) -> tuple[str, Check]:
    if spec.min is None and spec.max is None:
        raise CheckError(f"range({spec.column}): give min, max or both")
    low = spec.min if spec.min is not None else -math.inf
    high = spec.max if spec.max is not None else math.inf
    label = f"range({spec.column})"

    def check(view: SampleView) -> list[Violation]:
        values = view.column(spec.column)
        # the common case, at C speed: numbers only, the least and the greatest in range (a
        # NaN taken for the least fails this, and the records are looked at one by one)
        numbers = bool(values) and set(map(type, values)) <= _NUMBER_TYPES
        if numbers and low <= min(values) and max(values) <= high:
            return []
        try:
            suspects = [
                i
                for i, v in enumerate(values)
                if v.__class__ not in _NUMBERS or not low <= v <= high
                if v is not None and v is not MISSING and v is not SKIP
            ]
        except TypeError:
            suspects = list(range(len(values)))
        found = []
        for i in suspects:
            value = values[i]
            if value is None or value is MISSING or value is SKIP:
                continue
            shown = view.shown(spec.column, value)
            if not _is_number(value):
                reason = f"{spec.column} = {shown} is not a number"
            elif value < low:
                reason = f"{spec.column} = {shown} is below the minimum {_number(low)}"
            elif value > high:
                reason = f"{spec.column} = {shown} is above the maximum {_number(high)}"
            else:
                continue
            found.append(Violation(i, label, reason))
        return found

    return label, Check(check, frozenset([spec.column]))


def _unique(spec: schema.Unique) -> tuple[str, Check]:
    label = f"unique({', '.join(spec.columns)})"
    reads = [getter(c) for c in spec.columns]
    names = ", ".join(spec.columns)

    def check(view: SampleView) -> list[Violation]:
        seen: dict[Any, int] = {}
        found = []
        for i, record in _records(view):
            values = [read(record) for read in reads]
            if all(v is None or v is MISSING for v in values):
                continue
            key = tuple(_hashable(None if v is MISSING else v) for v in values)
            first = seen.setdefault(key, i)
            if first != i:
                pairs = zip(spec.columns, values, strict=True)
                masked = [MASK if view.hides(c) else v for c, v in pairs]
                shown = show(masked[0]) if len(masked) == 1 else show(masked)
                reason = f"{names} = {shown} repeats {view.where(first)}"
                found.append(Violation(i, label, reason))
        return found

    return label, Check(check)  # whole records


def _matches(spec: schema.Matches) -> tuple[str, Check]:
    try:
        pattern = re.compile(spec.pattern)
    except re.error as exc:
        raise CheckError(
            f"matches({spec.column}): '{spec.pattern}' is not a regex: {exc}"
        ) from None
    label = f"matches({spec.column})"
    read = getter(spec.column)

    def check(view: SampleView) -> list[Violation]:
        found = []
        for i, record in _records(view):
            value = read(record)
            if value is None or value is MISSING:
                continue
            if not isinstance(value, str):
                reason = f"{spec.column} = {view.shown(spec.column, value)} is not a string"
            elif pattern.search(value) is None:
                shown = view.shown(spec.column, value)
                reason = f"{spec.column} = {shown} does not match {spec.pattern}"
            else:
                continue
            found.append(Violation(i, label, reason))
        return found

    return label, Check(check)  # whole records


def _integer(bits: int) -> Callable[[Any], bool]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v < high


def _is_time(value: Any) -> bool:
    if isinstance(value, datetime | date) or _integer(64)(value):
        return True
    return isinstance(value, str) and parse_time(value) is not None


# SQL type (without its parameters) -> whether a decoded JSON or Avro value has it
TYPES: dict[str, Callable[[Any], bool]] = {
    "STRING": lambda v: isinstance(v, str),
    "BOOLEAN": lambda v: isinstance(v, bool),
    "TINYINT": _integer(8),
    "SMALLINT": _integer(16),
    "INT": _integer(32),
    "BIGINT": _integer(64),
    "FLOAT": _is_number,
    "DOUBLE": _is_number,
    "DECIMAL": lambda v: _is_number(v) or (isinstance(v, str) and _is_decimal_text(v)),
    "DATE": _is_time,
    "TIME": lambda v: isinstance(v, str) or _integer(64)(v),
    "TIMESTAMP": _is_time,
    "TIMESTAMP_LTZ": _is_time,
    "BYTES": lambda v: isinstance(v, bytes | str),
    "ARRAY": lambda v: isinstance(v, list),
    "MAP": lambda v: isinstance(v, dict),
    "ROW": lambda v: isinstance(v, dict),
    "MULTISET": lambda v: isinstance(v, dict | list),
}
_SYNONYMS = {
    "VARCHAR": "STRING",
    "CHAR": "STRING",
    "TEXT": "STRING",
    "BOOL": "BOOLEAN",
    "INTEGER": "INT",
    "LONG": "BIGINT",
    "REAL": "FLOAT",
    "NUMERIC": "DECIMAL",
    "DEC": "DECIMAL",
    "BINARY": "BYTES",
    "VARBINARY": "BYTES",
    "TIMESTAMP_TZ": "TIMESTAMP",
    # JSON Schema's names
    "NUMBER": "DOUBLE",
    "OBJECT": "ROW",
}
_TYPE_WORDS = re.compile(r"^\s*([A-Za-z_]+)")


def _is_decimal_text(text: str) -> bool:
    return re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*", text) is not None


def type_check(type_text: str) -> Callable[[Any], bool]:
    """The check of one declared SQL type: ``DECIMAL(10, 2)`` -> DECIMAL's, ``ARRAY<INT>`` ->
    ARRAY's, ``TIMESTAMP(3) WITH LOCAL TIME ZONE`` -> TIMESTAMP's."""
    match = _TYPE_WORDS.match(type_text)
    word = match.group(1).upper() if match else ""
    if word == "INTEGER" and type_text.strip().lower() == "integer":
        word = "BIGINT"  # JSON Schema's integer has no 32-bit bound
    word = _SYNONYMS.get(word, word)
    if word not in TYPES:
        known = ", ".join(sorted(TYPES))
        raise CheckError(f"accepted_types: unknown type '{type_text}' (known: {known})")
    return TYPES[word]


def _accepted_types(spec: schema.AcceptedTypes) -> tuple[str, Check]:
    if not spec.columns:
        raise CheckError("accepted_types: name at least one column and its type")
    checks = [(c, t, getter(c), type_check(t)) for c, t in spec.columns.items()]
    label = f"accepted_types({', '.join(spec.columns)})"

    def check(view: SampleView) -> list[Violation]:
        found = []
        for column, type_text, read, fits in checks:
            for i, record in _records(view):
                value = read(record)
                if value is None or value is MISSING or fits(value):
                    continue
                shown = view.shown(column, value)
                reason = f"{column} = {shown} is {_kind(value)}, not {type_text}"
                found.append(Violation(i, label, reason))
        return found

    return label, Check(check)  # whole records


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def parse_time(value: Any) -> int | None:
    """Epoch milliseconds of a timestamp value: an ISO 8601 string, a datetime, or a number
    (seconds when below 1e11, i.e. before 1973 as milliseconds, else milliseconds)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value * 1000) if abs(value) < 1e11 else int(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, str):
        text = value.strip().replace(" ", "T", 1)
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            return None
        return parse_time(moment)
    return None


def age_text(ms: int) -> str:
    """``7384000`` -> ``2h 3m``; ``1500`` -> ``1.5s``."""
    if ms < 60_000:
        return f"{ms / 1000:g}s"
    minutes, _ = divmod(ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m"]
    return " ".join(p for p in parts if p and p != "0m") or "0m"


def _freshness(spec: schema.Freshness) -> tuple[str, Check]:
    try:
        limit = schema.parse_duration_ms(spec.max_age)
    except ValueError as exc:
        raise CheckError(f"freshness: {exc}") from None
    label = f"freshness({spec.column})" if spec.column else "freshness"
    read = getter(spec.column) if spec.column else None
    what = spec.column or "Kafka timestamp"

    def check(view: SampleView) -> list[Violation]:
        if read is None:
            moments = [(t, i) for i, t in enumerate(view.timestamps) if t is not None and t >= 0]
        else:
            moments = []
            for i, record in _records(view):
                moment = parse_time(read(record))
                if moment is not None:
                    moments.append((moment, i))
        if not moments:
            empty = not view.values
            reason = (
                "the sample holds no records"
                if empty
                else f"no record of the sample has a readable {what}"
            )
            return [Violation(None, label, reason)]
        newest, index = max(moments)
        age = view.now_ms - newest
        if age <= limit:
            return []
        reason = (
            f"the newest record ({what}) is {age_text(age)} old, "
            f"more than the allowed {spec.max_age}"
        )
        return [Violation(index, label, reason)]

    return label, Check(check, None if read else frozenset())  # Kafka timestamps: no column


def _row_count(spec: schema.RowCount) -> tuple[str, Check]:
    if spec.min is None and spec.max is None:
        raise CheckError("row_count: give min, max or both")
    label = "row_count"

    def check(view: SampleView) -> list[Violation]:
        count = len(view.values)
        if spec.min is not None and count < spec.min:
            reason = f"the sample holds {count} records, fewer than the minimum {spec.min}"
        elif spec.max is not None and count > spec.max:
            reason = f"the sample holds {count} records, more than the maximum {spec.max}"
        else:
            return []
        return [Violation(None, label, reason)]

    return label, Check(check, frozenset())


def _expression(spec: schema.Expression) -> tuple[str, Check]:
    tree = _expression_tree(spec.sql)
    predicate = _Compiler(spec.sql).compile(tree)
    # the top-level columns it reads: a reason quotes no value computed from a hidden one
    reads = {column.parts[0].name for column in tree.find_all(exp.Column)}
    label = "expression"
    shown = spec.sql if len(spec.sql) <= 80 else spec.sql[:77] + "..."

    def check(view: SampleView) -> list[Violation]:
        found = []
        quiet = not reads.isdisjoint(view.hidden)
        for i, record in _records(view):
            try:
                result = predicate(record)
            except EvalError as exc:
                why = "" if quiet else f": {exc}"
                found.append(Violation(i, label, f"cannot evaluate {shown}{why}"))
                continue
            if result is False:
                found.append(Violation(i, label, f"false: {shown}"))
            elif result is not None and result is not True:
                value = MASK if quiet else show(result)
                found.append(Violation(i, label, f"gives {value}, not a boolean: {shown}"))
        return found

    return label, Check(check)  # whole records


_MAKERS: dict[str, Callable[[Any], tuple[str, Check]]] = {
    "not_null": _not_null,
    "accepted_values": _accepted_values,
    "range": _range,
    "unique": _unique,
    "matches": _matches,
    "accepted_types": _accepted_types,
    "freshness": _freshness,
    "row_count": _row_count,
    "expression": _expression,
}


# -- expression ---------------------------------------------------------------------------------

Fn = Callable[[Mapping[str, Any]], Any]
_TABLE = "__sluice_sample__"


def compile_expression(sql: str) -> Fn:
    """Parse ``sql`` (one Flink SQL boolean) and compile it into a function of one record."""
    return _Compiler(sql).compile(_expression_tree(sql))


def _expression_tree(sql: str) -> exp.Expression:
    """The parse tree of ``sql``, one SQL boolean over the columns of a record."""
    try:
        tree = parse(f"SELECT {sql}\nFROM {_TABLE}")
    except SqlSyntaxError as exc:
        raise CheckError(f"expression '{sql}' is not one SQL boolean: {exc}") from None
    extra = sorted(k for k, v in tree.args.items() if v and k not in ("expressions", "from_"))
    source = tree.args.get("from_")
    table = source.this if isinstance(source, exp.From) else None
    if (
        extra
        or len(tree.expressions) != 1
        or not isinstance(table, exp.Table)
        or table.name != _TABLE
    ):
        raise CheckError(f"expression '{sql}': write one SQL boolean, e.g. amount > 0")
    return tree.expressions[0]


def _and(left: Any, right: Any) -> Any:
    if left is False or right is False:
        return False
    if left is None or right is None:
        return None
    return True


def _or(left: Any, right: Any) -> Any:
    if left is True or right is True:
        return True
    if left is None or right is None:
        return None
    return False


def _negate(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise EvalError(f"NOT {show(value)} needs a boolean")
    return not value


def _comparable(left: Any, right: Any) -> None:
    if isinstance(left, str) != isinstance(right, str) or (
        isinstance(left, bool) != isinstance(right, bool)
    ):
        raise EvalError(f"cannot compare {show(left)} with {show(right)}")


def _compare(operator: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(left: Any, right: Any) -> Any:
        if left is None or right is None:
            return None
        _comparable(left, right)
        try:
            return operator(left, right)
        except TypeError:
            raise EvalError(f"cannot compare {show(left)} with {show(right)}") from None

    return compare


def _arithmetic(symbol: str, operator: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if left is None or right is None:
            return None
        if not (_is_number(left) and _is_number(right)):
            raise EvalError(f"{show(left)} {symbol} {show(right)} needs two numbers")
        try:
            return operator(left, right)
        except ZeroDivisionError:
            raise EvalError("division by zero") from None
        except (TypeError, ArithmeticError) as exc:
            raise EvalError(str(exc)) from None

    return apply


def _divide(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            raise ZeroDivisionError
        quotient = abs(left) // abs(right)  # SQL truncates toward zero
        return quotient if (left >= 0) == (right >= 0) else -quotient
    return left / right


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        return left - right * _divide(left, right)  # the sign of the dividend, as in SQL
    return math.fmod(left, right)


@lru_cache(maxsize=256)
def like_pattern(pattern: str, escape: str | None = None) -> re.Pattern[str]:
    """A SQL LIKE pattern (``%`` any run, ``_`` one character) as an anchored regex."""
    parts = []
    chars = iter(pattern)
    for char in chars:
        if escape is not None and char == escape:
            parts.append(re.escape(next(chars, "")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _cast_to(type_text: str) -> Callable[[Any], Any]:
    word = _SYNONYMS.get(type_text.split("(")[0].strip().upper(), type_text.upper())
    word = word.split("(")[0].strip()

    def to_int(v: Any) -> int:
        return int(v) if not isinstance(v, str) else int(float(v.strip()))

    def to_bool(v: Any) -> bool:
        if isinstance(v, str):
            text = v.strip().lower()
            if text not in ("true", "false"):
                raise ValueError(f"{show(v)} is not a boolean")
            return text == "true"
        return bool(v)

    def to_text(v: Any) -> str:
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        return v if isinstance(v, str) else json.dumps(v, default=str)

    if word in ("TINYINT", "SMALLINT", "INT", "BIGINT"):
        return to_int
    if word in ("FLOAT", "DOUBLE", "DECIMAL"):
        return float
    if word == "STRING":
        return to_text
    if word == "BOOLEAN":
        return to_bool
    raise CheckError(f"CAST to {type_text} is not supported in a sample-test expression")


_COMPARISONS: dict[type[exp.Expression], Callable[[Any, Any], bool]] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}
_ARITHMETIC: dict[type[exp.Expression], tuple[str, Callable[[Any, Any], Any]]] = {
    exp.Add: ("+", lambda a, b: a + b),
    exp.Sub: ("-", lambda a, b: a - b),
    exp.Mul: ("*", lambda a, b: a * b),
    exp.Div: ("/", _divide),
    exp.Mod: ("%", _modulo),
}


def _strings(name: str, function: Callable[[str], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise EvalError(f"{name}({show(value)}) needs a string")
        return function(value)

    return apply


def _absolute(value: Any) -> Any:
    if value is None:
        return None
    if not _is_number(value):
        raise EvalError(f"ABS({show(value)}) needs a number")
    return abs(value)


_FUNCTIONS: dict[type[exp.Expression], tuple[str, Callable[[Any], Any]]] = {
    exp.Lower: ("LOWER", _strings("LOWER", str.lower)),
    exp.Upper: ("UPPER", _strings("UPPER", str.upper)),
    exp.Length: ("CHAR_LENGTH", _strings("CHAR_LENGTH", len)),
    exp.Trim: ("TRIM", _strings("TRIM", str.strip)),
    exp.Abs: ("ABS", _absolute),
}
SUPPORTED = (
    "=, <>, <, <=, >, >=, AND, OR, NOT, +, -, *, /, %, ||, IS [NOT] NULL, IS [NOT] TRUE/FALSE, "
    "[NOT] IN (...), [NOT] LIKE, [NOT] BETWEEN, CASE, CAST, COALESCE, CONCAT, LOWER, UPPER, "
    "CHAR_LENGTH, TRIM, ABS"
)


class _Compiler:
    """Turns a parse tree into nested closures, once per expression."""

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def compile(self, node: exp.Expression) -> Fn:
        if node.args.get("negate"):  # x NOT LIKE y is Like(..., negate=True)
            inner = self._compile(node)
            return lambda record: _negate(inner(record))
        return self._compile(node)

    def _compile(self, node: exp.Expression) -> Fn:
        method = getattr(self, f"_{type(node).__name__.lower()}", None)
        if method is not None:
            compiled: Fn = method(node)
            return compiled
        if type(node) in _COMPARISONS:
            return self._binary(node, _compare(_COMPARISONS[type(node)]))
        if type(node) in _ARITHMETIC:
            return self._binary(node, _arithmetic(*_ARITHMETIC[type(node)]))
        if type(node) in _FUNCTIONS:
            _, function = _FUNCTIONS[type(node)]
            if any(node.args.get(k) for k in node.args if k != "this"):
                return self._unsupported(node)
            argument = self.compile(node.this)
            return lambda record: function(argument(record))
        return self._unsupported(node)

    def _unsupported(self, node: exp.Expression) -> Fn:
        text = node.sql(dialect=Flink)
        raise CheckError(
            f"expression '{self.sql}': {text} is not supported in a sample test "
            f"(supported: {SUPPORTED})"
        )

    def _binary(self, node: exp.Expression, operator: Callable[[Any, Any], Any]) -> Fn:
        left, right = self.compile(node.this), self.compile(node.expression)
        return lambda record: operator(left(record), right(record))

    # leaves

    def _column(self, node: exp.Column) -> Fn:
        return self._field([part.name for part in node.parts])

    def _dot(self, node: exp.Dot) -> Fn:
        names: list[str] = []
        current: exp.Expression = node
        while isinstance(current, exp.Dot):
            names.insert(0, current.expression.name)
            current = current.this
        if not isinstance(current, exp.Column):
            return self._unsupported(node)
        return self._field([p.name for p in current.parts] + names)

    @staticmethod
    def _field(names: list[str]) -> Fn:
        dotted = ".".join(names)
        read = getter(dotted)

        def value(record: Mapping[str, Any]) -> Any:
            found = read(record)
            return None if found is MISSING else found

        if len(names) == 1:
            name = names[0]
            return lambda record: record.get(name)
        return value

    def _literal(self, node: exp.Literal) -> Fn:
        if node.is_string:
            text = node.this
            return lambda record: text
        raw = node.this
        number: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
        return lambda record: number

    def _boolean(self, node: exp.Boolean) -> Fn:
        value = bool(node.this)
        return lambda record: value

    def _null(self, node: exp.Null) -> Fn:
        return lambda record: None

    def _paren(self, node: exp.Paren) -> Fn:
        return self.compile(node.this)

    # logic

    def _and(self, node: exp.And) -> Fn:
        left, right = self.compile(node.this), self.compile(node.expression)

        def both(record: Mapping[str, Any]) -> Any:
            first = left(record)
            if first is False:
                return False  # short circuit, as SQL engines may
            return _and(first, right(record))

        return both

    def _or(self, node: exp.Or) -> Fn:
        left, right = self.compile(node.this), self.compile(node.expression)

        def either(record: Mapping[str, Any]) -> Any:
            first = left(record)
            if first is True:
                return True
            return _or(first, right(record))

        return either

    def _not(self, node: exp.Not) -> Fn:
        inner = self.compile(node.this)
        return lambda record: _negate(inner(record))

    def _is(self, node: exp.Is) -> Fn:
        inner = self.compile(node.this)
        target = node.expression
        if isinstance(target, exp.Null):
            return lambda record: inner(record) is None
        if isinstance(target, exp.Boolean):
            wanted = bool(target.this)
            return lambda record: inner(record) is wanted
        return self._unsupported(node)

    def _neg(self, node: exp.Neg) -> Fn:
        inner = self.compile(node.this)
        negate = _arithmetic("*", lambda a, b: a * b)
        return lambda record: negate(inner(record), -1)

    def _in(self, node: exp.In) -> Fn:
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            return self._unsupported(node)
        inner = self.compile(node.this)
        items = [self.compile(e) for e in node.expressions]

        def contained(record: Mapping[str, Any]) -> Any:
            value = inner(record)
            if value is None:
                return None
            unknown = False
            for item in items:
                candidate = item(record)
                if candidate is None:
                    unknown = True
                    continue
                _comparable(value, candidate)
                if value == candidate:
                    return True
            return None if unknown else False

        return contained

    def _between(self, node: exp.Between) -> Fn:
        inner = self.compile(node.this)
        low, high = self.compile(node.args["low"]), self.compile(node.args["high"])
        at_least, at_most = _compare(lambda a, b: a >= b), _compare(lambda a, b: a <= b)
        return lambda record: _and(
            at_least(inner(record), low(record)), at_most(inner(record), high(record))
        )

    def _like(self, node: exp.Like, ignore_case: bool = False) -> Fn:
        inner, pattern = self.compile(node.this), self.compile(node.expression)
        flags = re.IGNORECASE if ignore_case else 0

        def like(record: Mapping[str, Any]) -> Any:
            value, text = inner(record), pattern(record)
            if value is None or text is None:
                return None
            if not isinstance(value, str) or not isinstance(text, str):
                raise EvalError(f"{show(value)} LIKE {show(text)} needs two strings")
            regex = like_pattern(text)
            if flags:
                regex = re.compile(regex.pattern, regex.flags | flags)
            return regex.fullmatch(value) is not None

        return like

    def _ilike(self, node: exp.ILike) -> Fn:
        return self._like(node, ignore_case=True)  # type: ignore[arg-type]

    def _escape(self, node: exp.Escape) -> Fn:
        like = node.this
        escape = node.expression
        if not isinstance(like, exp.Like) or not isinstance(escape, exp.Literal):
            return self._unsupported(node)
        negated = bool(like.args.get("negate"))
        inner, pattern = self.compile(like.this), self.compile(like.expression)
        char = escape.this

        def escaped(record: Mapping[str, Any]) -> Any:
            value, text = inner(record), pattern(record)
            if value is None or text is None:
                return None
            if not isinstance(value, str) or not isinstance(text, str):
                raise EvalError(f"{show(value)} LIKE {show(text)} needs two strings")
            return (like_pattern(text, char).fullmatch(value) is not None) != negated

        return escaped

    # functions

    def _dpipe(self, node: exp.DPipe) -> Fn:
        left, right = self.compile(node.this), self.compile(node.expression)
        return self._concat_of([left, right])

    def _concat(self, node: exp.Concat) -> Fn:
        return self._concat_of([self.compile(e) for e in node.expressions])

    @staticmethod
    def _concat_of(parts: list[Fn]) -> Fn:
        def concat(record: Mapping[str, Any]) -> Any:
            values = [part(record) for part in parts]
            if any(v is None for v in values):
                return None
            return "".join(v if isinstance(v, str) else str(v) for v in values)

        return concat

    def _coalesce(self, node: exp.Coalesce) -> Fn:
        parts = [self.compile(node.this), *(self.compile(e) for e in node.expressions)]

        def first(record: Mapping[str, Any]) -> Any:
            for part in parts:
                value = part(record)
                if value is not None:
                    return value
            return None

        return first

    def _case(self, node: exp.Case) -> Fn:
        subject = self.compile(node.this) if node.this else None
        branches = [(self.compile(b.this), self.compile(b.args["true"])) for b in node.args["ifs"]]
        default = self.compile(node.args["default"]) if node.args.get("default") else None

        def choose(record: Mapping[str, Any]) -> Any:
            value = subject(record) if subject else None
            for condition, result in branches:
                test = condition(record)
                if (test is True) if subject is None else (test is not None and test == value):
                    return result(record)
            return default(record) if default else None

        return choose

    def _cast(self, node: exp.Cast) -> Fn:
        inner = self.compile(node.this)
        convert = _cast_to(node.to.sql(dialect=Flink))

        def cast(record: Mapping[str, Any]) -> Any:
            value = inner(record)
            if value is None:
                return None
            try:
                return convert(value)
            except (TypeError, ValueError) as exc:
                raise EvalError(f"CAST({show(value)}): {exc}") from None

        return cast

    _trycast = _cast
