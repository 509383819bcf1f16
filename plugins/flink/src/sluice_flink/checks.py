"""The assertions of a continuous test as Flink SQL, checked one record at a time.

Each assertion becomes one or more :class:`Check` s: a condition that is TRUE for a record
that breaks it, and the reason written with the violation. Nulls behave as in sample tests: a
null value passes every assertion but ``not_null`` (SQL's comparisons with NULL are not TRUE).

Assertions that compare records with each other or with the clock (``unique``, ``row_count``,
``freshness``) are refused by the core in every continuous test; ``accepted_types`` is refused
here (a Flink job decodes every record with the declared types, and a record that does not
fit stops it). Both are compile errors naming ``type: sample``.

Every name goes through :func:`~sluice_flink.ddl.identifier` and every value through
:func:`~sluice_flink.ddl.literal` or a checked number; an ``expression`` is parsed with
sluice's Flink dialect, checked, and written back from its parse tree, never pasted as typed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlglot import exp

from sluice.compiler import CompileContext
from sluice.errors import Location, ProjectError, did_you_mean
from sluice.nodes import ColumnInfo, Node
from sluice.project import schema
from sluice.sql import Flink, SqlSyntaxError, parse
from sluice_flink.ddl import column_type, identifier, literal

# why these cannot be a per-record check in a Flink job (the core refuses the assertions that
# compare records with each other or with the clock in every continuous test)
NOT_PER_RECORD = {
    "accepted_types": "cannot see a record of another type: the job decodes every record with "
    "the declared column types, and one that does not fit stops the job",
}
_STRING = ("STRING", "VARCHAR", "CHAR")
_NUMBER = ("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT", "DECIMAL", "DEC", "NUMERIC", "FLOAT")
_NUMBER_APPROX = ("DOUBLE", "REAL")
_NUMBER_TEXT = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_SHOWN = 80  # characters of an expression quoted in a reason
_TABLE = "__sluice_record__"
_FLINK = Flink()


@dataclass(frozen=True)
class Check:
    """One record-level check: ``condition`` is TRUE for a violating record; ``reason`` is a
    Flink SQL expression of type STRING that says why."""

    label: str  # the assertion as sample tests name it, e.g. ``range(amount)``
    condition: str
    reason: str


@dataclass(frozen=True)
class _Scope:
    """What building the checks of one assertion needs to know."""

    test: Node
    tested: Node
    context: CompileContext
    index: int  # of the assertion in the test's list
    kind: str

    def where(self, *keys: str) -> Location:
        return self.context.location(self.test, "assertions", self.index, self.kind, *keys)

    def column(self, name: str, key: str = "column") -> tuple[ColumnInfo, str]:
        """The tested node's column ``name`` and its quoted identifier."""
        info = self.tested.column(name)
        if info is None:
            names = [c.name for c in self.tested.columns]
            raise ProjectError(
                f"test '{self.test.name}': {self.kind} names column '{name}', which "
                f"{self.tested.resource_type} '{self.tested.name}' does not declare",
                location=self.where(key),
                hint=did_you_mean(name, names) or "columns: " + ", ".join(names),
            )
        return info, identifier(name, "column", self.where(key))


def build_checks(test: Node, tested: Node, context: CompileContext) -> list[Check]:
    """The checks of every assertion of ``test`` on the records of ``tested``."""
    checks: list[Check] = []
    for index, assertion in enumerate(test.spec.assertions):
        ((kind, args),) = assertion.items()
        scope = _Scope(test, tested, context, index, kind)
        if kind in NOT_PER_RECORD:
            raise ProjectError(
                f"test '{test.name}': a continuous test checks one record at a time, and "
                f"{kind} {NOT_PER_RECORD[kind]}",
                location=context.location(test, "assertions", index),
                hint=f"move {kind} to a test with type: sample",
            )
        spec = _validated(scope, args)
        checks.extend(_BUILDERS[kind](scope, spec))
    if not checks:
        raise ProjectError(
            f"test '{test.name}': a continuous test needs at least one assertion",
            location=context.location(test, "name"),
            hint="add assertions: [- not_null: { columns: [...] }, ...]",
        )
    return checks


def _validated(scope: _Scope, args: Any) -> Any:
    model: type[BaseModel] = schema.ASSERTIONS[scope.kind]
    try:
        return model.model_validate(args if args is not None else {})
    except ValidationError as exc:  # the loader reports these first; kept for safety
        raise ProjectError(
            f"test '{scope.test.name}': {scope.kind}: {exc.errors()[0]['msg']}",
            location=scope.where(),
        ) from None


# -- the assertions ---------------------------------------------------------------------------


def _not_null(scope: _Scope, spec: schema.NotNull) -> list[Check]:
    label = f"not_null({', '.join(spec.columns)})"
    checks = []
    for name in spec.columns:
        _, column = scope.column(name, "columns")
        checks.append(Check(label, f"{column} IS NULL", literal(f"{name} is null")))
    return checks


def _accepted_values(scope: _Scope, spec: schema.AcceptedValues) -> list[Check]:
    info, column = scope.column(spec.column)
    values = [v for v in spec.values if v is not None]  # null passes anyway
    if not values:
        raise ProjectError(
            f"test '{scope.test.name}': accepted_values({spec.column}) lists no value",
            location=scope.where("values"),
            hint="list the values the column may hold",
        )
    listed = ", ".join(_value_literal(scope, info, v) for v in values)
    shown = ", ".join(_shown(v) for v in values)
    reason = literal(f"{spec.column} is not one of [{shown}]")
    return [Check(f"accepted_values({spec.column})", f"{column} NOT IN ({listed})", reason)]


def _range(scope: _Scope, spec: schema.Range) -> list[Check]:
    info, column = scope.column(spec.column)
    if _family(info) != "number":
        raise _type_error(scope, info, "a numeric", "range")
    label = f"range({spec.column})"
    below = above = None
    if spec.min is not None:
        low = _number(scope, spec.min, "min")
        below = (f"{column} < {low}", f"below the minimum {low}")
    if spec.max is not None:
        high = _number(scope, spec.max, "max")
        above = (f"{column} > {high}", f"above the maximum {high}")
    if below and above:
        condition = f"{below[0]} OR {above[0]}"
        reason = (
            f"CASE WHEN {below[0]} THEN {literal(f'{spec.column} is {below[1]}')} "
            f"ELSE {literal(f'{spec.column} is {above[1]}')} END"
        )
        return [Check(label, condition, reason)]
    bound = below or above
    if bound is None:
        raise ProjectError(
            f"test '{scope.test.name}': range({spec.column}) gives neither min nor max",
            location=scope.where(),
            hint="give min, max or both",
        )
    return [Check(label, bound[0], literal(f"{spec.column} is {bound[1]}"))]


def _matches(scope: _Scope, spec: schema.Matches) -> list[Check]:
    info, column = scope.column(spec.column)
    try:
        re.compile(spec.pattern)
    except re.error as exc:
        raise ProjectError(
            f"test '{scope.test.name}': matches({spec.column}): '{spec.pattern}' is not a "
            f"regular expression: {exc}",
            location=scope.where("pattern"),
            hint="Flink uses Java regular expressions (REGEXP), like Python's for most patterns",
        ) from None
    text = column if _family(info) == "string" else f"CAST({column} AS STRING)"
    condition = f"NOT REGEXP({text}, {literal(spec.pattern)})"
    reason = literal(f"{spec.column} does not match {spec.pattern}")
    return [Check(f"matches({spec.column})", condition, reason)]


def _expression(scope: _Scope, spec: schema.Expression) -> list[Check]:
    predicate = flink_predicate(scope, spec.sql)
    shown = spec.sql if len(spec.sql) <= _SHOWN else spec.sql[: _SHOWN - 3] + "..."
    # FALSE fails; NULL passes, as in a CHECK constraint (and in sample tests)
    return [Check("expression", f"({predicate}) IS FALSE", literal(f"false: {shown}"))]


_BUILDERS: Mapping[str, Callable[[_Scope, Any], list[Check]]] = {
    "not_null": _not_null,
    "accepted_values": _accepted_values,
    "range": _range,
    "matches": _matches,
    "expression": _expression,
}


# -- expression -------------------------------------------------------------------------------

# node types that need more than the one record in hand
_STATEFUL_NODES: tuple[type[exp.Expr], ...] = (exp.Query, exp.AggFunc, exp.Window, exp.Star)
_NOT_BOOLEAN: tuple[type[exp.Expr], ...] = (exp.Literal, exp.Binary, exp.Neg, exp.Interval)
_BOOLEAN_BINARY: tuple[type[exp.Expr], ...] = (exp.Predicate, exp.Connector)


def flink_predicate(scope: _Scope, sql: str) -> str:
    """``sql`` (one SQL boolean over the tested node's columns) as Flink SQL, regenerated from
    its parse tree with every column quoted."""
    where = scope.where("sql")
    name = scope.test.name
    try:
        tree = parse(f"SELECT {sql}\nFROM {_TABLE}")
    except SqlSyntaxError as exc:
        raise ProjectError(
            f"test '{name}': expression '{sql}' is not one SQL boolean: {exc}",
            location=where,
            hint="write one condition over the columns, e.g. amount > 0 AND currency <> ''",
        ) from None
    predicate = _single_expression(tree)
    if predicate is None:
        raise ProjectError(
            f"test '{name}': expression '{sql}' is not one SQL boolean",
            location=where,
            hint="write one condition over the columns, e.g. amount > 0",
        )
    stateful = next(predicate.find_all(*_STATEFUL_NODES), None)
    if stateful is not None:
        raise ProjectError(
            f"test '{name}': expression '{sql}' uses {stateful.sql(dialect=_FLINK)}; a "
            "continuous test checks one record at a time",
            location=where,
            hint="aggregates, window functions, subqueries and * need type: sample (or a model)",
        )
    if isinstance(predicate, _NOT_BOOLEAN) and not isinstance(predicate, _BOOLEAN_BINARY):
        raise ProjectError(
            f"test '{name}': expression '{sql}' is a value, not a condition",
            location=where,
            hint="compare it with something, e.g. amount > 0",
        )
    for column in predicate.find_all(exp.Column):
        head = column.parts[0].name  # `r.a` reads field a of ROW column r
        if scope.tested.column(head) is None:
            scope.column(head, "sql")  # raises, naming the columns there are
    return _FLINK.generate(predicate, identify=True, comments=False)


def _single_expression(tree: exp.Expr) -> exp.Expr | None:
    """The one projection of ``SELECT <expression> FROM <our table>``, or None."""
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return None
    extra = [k for k, v in tree.args.items() if v and k not in ("expressions", "from_")]
    source = tree.args.get("from_")
    table = source.this if isinstance(source, exp.From) else None
    if extra or not isinstance(table, exp.Table) or table.name != _TABLE:
        return None
    predicate = tree.expressions[0]
    return None if isinstance(predicate, exp.Alias) else predicate


# -- values -----------------------------------------------------------------------------------


def _family(info: ColumnInfo) -> str:
    """``string``, ``number``, ``boolean`` or ``other``, from the column's Flink type."""
    base = re.split(r"[\s(<]", (info.type or "").strip().upper(), maxsplit=1)[0]
    if base in _STRING:
        return "string"
    if base in _NUMBER or base in _NUMBER_APPROX:
        return "number"
    return "boolean" if base == "BOOLEAN" else "other"


def _value_literal(scope: _Scope, info: ColumnInfo, value: Any) -> str:
    """One accepted value as a Flink literal of the column's type."""
    family = _family(info)
    if isinstance(value, dict | list):
        raise _value_error(scope, info, value)
    if family == "boolean":
        if not isinstance(value, bool):
            raise _value_error(scope, info, value)
        return "TRUE" if value else "FALSE"
    if family == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _value_error(scope, info, value)
        return _number(scope, value, "values")
    # a JSON number or boolean read into a STRING column reads as its JSON text
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if family == "string":
        return literal(text)
    where = scope.where("values")
    type_ = column_type(info.type or "STRING", info.name, where)
    return f"CAST({literal(text)} AS {type_})"


def _number(scope: _Scope, value: float, key: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ProjectError(
            f"test '{scope.test.name}': {scope.kind}: {value} is not a finite number",
            location=scope.where(key),
        )
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    text = repr(value) if isinstance(value, float) else str(value)
    if not _NUMBER_TEXT.match(text):  # repr of a float is always one; this keeps it so
        raise ProjectError(
            f"test '{scope.test.name}': {scope.kind}: {text} is not a number Flink reads",
            location=scope.where(key),
        )
    return text


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _value_error(scope: _Scope, info: ColumnInfo, value: Any) -> ProjectError:
    return ProjectError(
        f"test '{scope.test.name}': accepted_values({info.name}): {value!r} cannot be a value "
        f"of column '{info.name}' ({info.type})",
        location=scope.where("values"),
        hint=f"list values of type {info.type}",
    )


def _type_error(scope: _Scope, info: ColumnInfo, wanted: str, kind: str) -> ProjectError:
    return ProjectError(
        f"test '{scope.test.name}': {kind}({info.name}) needs {wanted} column, and "
        f"'{info.name}' is {info.type}",
        location=scope.where("column"),
        hint=f"check another column, or use expression: for a condition on {info.type}",
    )
