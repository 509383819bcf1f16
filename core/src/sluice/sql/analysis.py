"""Analysis of one model's Flink SQL: its inputs, output columns, lineage and state.

The query is parsed once with the :mod:`~sluice.sql.dialect` and walked by hand. sqlglot's
``qualify`` and ``lineage`` helpers would do part of this, but they copy and re-walk the tree
several times; a compile of thousands of models cannot afford that.

The walk keeps one :class:`_Scope` per SELECT: the sources of its FROM clause (tables, CTEs,
subqueries, window TVFs, UNNEST and LATERAL TABLE), each with the columns it offers. Every
column reference is resolved against the scope (then the enclosing ones, for correlated
subqueries), which both checks it and tells where its value comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sluice.errors import did_you_mean
from sluice.sql.dialect import PARTITION_BY, WINDOW_TVFS, Flink, table_argument
from sluice.sql.errors import SqlAnalysisError, SqlSyntaxError
from sluice.sql.reserved import RESERVED, VALUE_WORDS

__all__ = ["Call", "ColumnRef", "OutputColumn", "SqlAnalysis", "analyze_query"]


@dataclass(frozen=True, order=True)
class ColumnRef:
    """One upstream column an output column is computed from."""

    relation: str
    column: str


@dataclass(frozen=True)
class OutputColumn:
    """A column of the query's result: its name, Flink type (when known) and lineage."""

    name: str
    type: str | None
    lineage: tuple[ColumnRef, ...]


@dataclass(frozen=True)
class Call:
    """A call of a function the analysis does not know by name (most engine built-ins, user
    functions, a misspelt name), where it is written: a plugin that runs the query checks
    such names against what its engine has."""

    name: str
    line: int
    column: int


@dataclass(frozen=True)
class SqlAnalysis:
    """What the compiler needs to know about one model's query."""

    relations: tuple[str, ...]
    stateful: bool
    stateful_constructs: tuple[str, ...]
    updating: bool
    columns: tuple[OutputColumn, ...]
    group_key: tuple[str, ...] = ()  # output names of the outer GROUP BY columns, if all are output
    calls: tuple[Call, ...] = ()
    sql: str = field(default="", compare=False, repr=False)
    tree: exp.Expression | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def expression(self) -> exp.Expression:
        """The parsed query; parsed again on first use after the analysis came from a cache."""
        if self.tree is None:
            object.__setattr__(self, "tree", parse(self.sql))
        assert self.tree is not None
        return self.tree

    def __getstate__(self) -> dict[str, object]:
        # the tree is large and quick to rebuild: caches keep only the text
        return {**self.__dict__, "tree": None}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)


# --------------------------------------------------------------------------------------------
# Internal model


@dataclass(frozen=True)
class _Col:
    name: str
    type: str | None
    lineage: frozenset[ColumnRef]


@dataclass
class _Source:
    """Something a FROM clause reads from, as the SELECT around it sees it."""

    alias: str  # the qualifier columns use: the alias, else the table's name
    label: str  # how messages name it
    columns: dict[str, _Col]  # in declared order
    complete: bool = True  # False when more columns may exist than we know of
    relation: str | None = None  # the upstream relation unknown columns come from
    window: str | None = None  # "TUMBLE", ... when this is (or carries) a window TVF
    correlated: bool = False  # UNNEST / LATERAL TABLE: computed per row of the left side

    def has_window_columns(self) -> bool:
        return "window_start" in self.columns and "window_end" in self.columns


@dataclass
class _Scope:
    sources: list[_Source]
    parent: _Scope | None = None
    ctes: dict[str, _Result] = field(default_factory=dict)
    # MATCH_RECOGNIZE pattern variables qualify columns of the clause's input.
    pattern_source: _Source | None = None
    pattern_vars: frozenset[str] = frozenset()
    # `JOIN ... USING (k)`: each such k is one column of the join, named without a qualifier;
    # ``using_of`` maps a joined source (by id) to the USING columns of its join
    using: dict[str, _Col] = field(default_factory=dict)
    using_of: dict[int, list[str]] = field(default_factory=dict)


@dataclass
class _Result:
    columns: list[_Col]
    window: str | None = None  # the window TVF the result's window_start/window_end come from


_TIME_TYPES = re.compile(r"^\s*TIMESTAMP(_LTZ)?\b", re.IGNORECASE)
_COMMA_SPACE = re.compile(r"\s*,\s*")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TOKEN_REPR = re.compile(r"<Token token_type: [\w.]+, text: (.*?), line: \d+, col: \d+.*?>")
_MISSING_PART = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]*\.(\w+)'>")
_TOP_N_FUNCTIONS = (exp.RowNumber, exp.Rank, exp.DenseRank)
# Flink's aggregate functions (those of Flink 2.2.1's planner but the ranking and offset
# functions of OVER windows); sqlglot reads the ones it does not know as plain calls
_FLINK_AGGREGATES = frozenset(
    {"APPROX_COUNT_DISTINCT", "ARRAY_AGG", "AVG", "COLLECT", "COUNT", "FIRST_VALUE"}
    | {"JSON_ARRAYAGG", "JSON_OBJECTAGG", "LAST_VALUE", "LISTAGG", "MAX", "MIN", "PERCENTILE"}
    | {"SINGLE_VALUE", "STDDEV", "STDDEVPOP", "STDDEVSAMP", "STDDEV_POP", "STDDEV_SAMP", "SUM"}
    | {"SUM0", "VARIANCE", "VARPOP", "VARSAMP", "VAR_POP", "VAR_SAMP"}
)
# what Flink functions sqlglot does not know return (JSON_VALUE ... RETURNING <type> is read
# as a CAST)
_CALL_TYPES = {
    "JSON_VALUE": "STRING",
    "JSON_QUERY": "STRING",
    "JSON_STRING": "STRING",
    "JSON_ARRAY": "STRING",
    "JSON_ARRAYAGG": "STRING",
    "LISTAGG": "STRING",
    "JSON_EXISTS": "BOOLEAN",
    "TIMESTAMPDIFF": "INT",
}
# Aggregates whose result has the type of their argument (Flink keeps AVG of INT an INT).
_SAME_TYPE_AGGREGATES = (exp.Sum, exp.Min, exp.Max, exp.Avg, exp.First, exp.Last, exp.AnyValue)
_STRING_FUNCTIONS = (exp.Upper, exp.Lower, exp.Concat, exp.Substring, exp.Trim, exp.Initcap)
_BOOLEAN_NODES = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.RegexpLike)
_QUERIES = (exp.Select, exp.SetOperation)
_CALLS = (exp.AggFunc, exp.Window)
_FLINK = Flink()


def analyze_query(
    sql: str, upstream: Mapping[str, Sequence[tuple[str, str | None]]]
) -> SqlAnalysis:
    """Parse one model's (already rendered) Flink SQL and analyse it against its inputs.

    ``upstream`` maps relation names to their declared ``(column, type-or-None)`` pairs; a
    relation that is missing or has no columns is treated as having unknown columns.

    Raises :class:`SqlSyntaxError` when the SQL does not parse and :class:`SqlAnalysisError`
    when it references unknown columns, leaves an expression unnamed, or expands ``*`` over a
    relation whose columns are not declared.
    """
    tree = parse(sql)
    calls = _check_names(tree, sql)
    analyzer = _Analyzer(sql, upstream)
    result = analyzer.query(tree, {}, None)
    relations: dict[str, None] = {}
    for _, name in sorted(analyzer.relation_refs, key=lambda ref: ref[0]):
        relations.setdefault(name, None)
    columns = tuple(
        OutputColumn(col.name, col.type, tuple(sorted(col.lineage))) for col in result.columns
    )
    return SqlAnalysis(
        relations=tuple(relations),
        stateful=bool(analyzer.constructs),
        stateful_constructs=tuple(sorted(analyzer.constructs)),
        updating=analyzer.updating,
        columns=columns,
        group_key=group_by_columns(tree),
        calls=calls,
        sql=sql,
        tree=tree,
    )


def group_by_columns(query: exp.Expression) -> tuple[str, ...]:
    """The output names of the outer SELECT's GROUP BY columns; () unless all are output.

    They identify a row of an aggregation's result, so they make its upsert key.
    """
    if not isinstance(query, exp.Select):
        return ()
    group = query.args.get("group")
    if group is None or not group.expressions:
        return ()
    names = []
    for grouped in group.expressions:
        if not isinstance(grouped, exp.Column):
            return ()
        output = next(
            (p.alias_or_name for p in query.expressions if _is_plain_column(p, grouped.name)),
            None,
        )
        if output is None:
            return ()
        names.append(output)
    return tuple(dict.fromkeys(names))


def _is_plain_column(projection: exp.Expression, name: str) -> bool:
    inner = projection.this if isinstance(projection, exp.Alias) else projection
    return isinstance(inner, exp.Column) and inner.name == name


def parse(sql: str) -> exp.Expression:
    """Parse one Flink SQL query; raise :class:`SqlSyntaxError` with its line and column."""
    try:
        statements = [s for s in _FLINK.parse(sql) if s is not None]
    except ParseError as error:
        raise _syntax_error(error) from None
    except TokenError as error:
        raise _token_error(error, sql) from None
    if not statements:
        raise SqlSyntaxError("the query is empty", 1, 1)
    if len(statements) > 1:
        raise SqlSyntaxError("a model holds one query; found several statements", 1, 1)
    tree = statements[0]
    if not (isinstance(tree, exp.Query) and isinstance(tree, exp.Expression)):
        raise SqlSyntaxError("a model's SQL must be a query (SELECT ...)", 1, 1)
    return tree


# Every type name of Flink SQL (Flink 2.2 "Data Types"). sqlglot takes any other word where a
# type belongs (``CAST(x AS STRIN)``) as a user-defined type, which Flink does not have.
_FLINK_TYPE_WORDS = frozenset(
    [
        "CHAR",
        "VARCHAR",
        "STRING",
        "BOOLEAN",
        "BINARY",
        "VARBINARY",
        "BYTES",
        "DECIMAL",
        "DEC",
        "NUMERIC",
        "TINYINT",
        "SMALLINT",
        "INT",
        "INTEGER",
        "BIGINT",
        "FLOAT",
        "DOUBLE",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "TIMESTAMP_LTZ",
        "INTERVAL",
        "ARRAY",
        "MULTISET",
        "MAP",
        "ROW",
        "RAW",
        "VARIANT",
    ]
)
_TYPE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# read as calls, but syntax: `TABLE t` as a window TVF argument, and what carries its PARTITION BY
_NOT_FUNCTIONS = frozenset({"TABLE", PARTITION_BY})


def _check_names(tree: exp.Expr, sql: str) -> tuple[Call, ...]:
    """Names Flink would refuse (a reserved word left unquoted, a type Flink does not have) are
    errors; of several reserved words the first in the text is reported, as Flink would.
    Returns the calls of functions the parser does not know by name."""
    reserved = []
    calls = []
    for node in tree.find_all(exp.Identifier, exp.DataType, exp.Anonymous):
        if isinstance(node, exp.Identifier):
            if _is_reserved(node):
                reserved.append(node)
        elif isinstance(node, exp.Anonymous):
            if "start" in node.meta and node.name.upper() not in _NOT_FUNCTIONS:
                calls.append(Call(node.name, *_line_column(sql, node.meta["start"])))
        elif isinstance(node, exp.DataType) and node.this == exp.DataType.Type.USERDEFINED:
            _check_type_name(node, sql)
    if reserved:
        first = min(reserved, key=lambda identifier: identifier.meta["start"])
        name = first.name
        line, column = _line_column(sql, first.meta["start"])
        raise SqlAnalysisError(
            f"'{name}' is a reserved word in Flink SQL and cannot be a name unquoted",
            line,
            column,
            f"quote it with backticks: `{name}` (or choose another name)",
        )
    return tuple(sorted(calls, key=lambda call: (call.line, call.column)))


def _is_reserved(identifier: exp.Identifier) -> bool:
    word = identifier.name.upper()
    if identifier.quoted or word not in RESERVED or "start" not in identifier.meta:
        return False
    # `SELECT CURRENT_DATE` is a value, not a column
    return not (word in VALUE_WORDS and isinstance(identifier.parent, exp.Column))


def _check_type_name(data_type: exp.DataType, sql: str) -> None:
    word = _TYPE_WORD.match(str(data_type.args.get("kind") or ""))
    if word is None or word.group().upper() in _FLINK_TYPE_WORDS:
        return
    name = word.group()
    written = re.search(rf"\bAS\s+({re.escape(name)})\b", sql, re.IGNORECASE)
    line, column = _line_column(sql, written.start(1)) if written else (None, None)
    raise SqlAnalysisError(
        f"unknown type '{name}': Flink SQL has no such type",
        line,
        column,
        did_you_mean(name.upper(), _FLINK_TYPE_WORDS)
        or "write a Flink type such as STRING, BIGINT, DECIMAL(12,2) or TIMESTAMP(3)",
    )


def _syntax_error(error: ParseError) -> SqlSyntaxError:
    details = error.errors[0] if error.errors else {}
    description = _ANSI.sub("", str(details.get("description") or error)).splitlines()[0]
    # sqlglot may show a token's repr, or name one of its classes
    description = _TOKEN_REPR.sub(r"'\1'", description)
    description = _MISSING_PART.sub(r"incomplete \1", description)
    description = description.replace("'SENTINEL'", "the end of the query")
    line, col = details.get("line"), details.get("col")
    highlight = details.get("highlight") or ""
    # sqlglot points at the last character of the offending token; point at its first.
    if isinstance(col, int) and highlight and "\n" not in highlight:
        col = max(1, col - len(highlight) + 1)
    near = f" near '{highlight}'" if highlight else ""
    return SqlSyntaxError(f"syntax error{near}: {description}", line, col)


def _token_error(error: TokenError, sql: str) -> SqlSyntaxError:
    # The tokenizer fails on an unclosed quote or comment. Its cause reads "Missing ' from
    # <line>:<offset>", the offset being where the quote opened; the error itself says less.
    # (The compiled sqlglot build chains it as the context rather than the cause.)
    cause = error.__cause__ or error.__context__
    match = re.match(r"Missing (.+) from \d+:(\d+)$", str(cause or ""))
    if match is None:
        return SqlSyntaxError("syntax error: an unclosed quote or comment")
    line, column = _line_column(sql, min(int(match.group(2)), len(sql)))
    return SqlSyntaxError(
        f"syntax error: {match.group(1)} is opened but never closed", line, column
    )


def _position_of(node: exp.Expr, sql: str) -> tuple[int | None, int | None]:
    """The 1-based line and column where ``node`` starts in ``sql``, when sqlglot kept it."""
    start: int | None = None
    for sub in node.walk():
        offset = sub.meta.get("start")
        if offset is not None and (start is None or offset < start):
            start = offset
    if start is None:
        return None, None
    return _line_column(sql, start)


def _line_column(sql: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of ``offset`` in ``sql``."""
    return sql.count("\n", 0, offset) + 1, offset - (sql.rfind("\n", 0, offset) + 1) + 1


def _type_text(data_type: exp.DataType) -> str:
    # `DECIMAL(12, 2)` and `DECIMAL(12,2)` are one type; compare-friendly spelling has no spaces.
    return _COMMA_SPACE.sub(",", _FLINK.generate(data_type))


def _literal_type(literal: exp.Literal) -> str | None:
    if literal.is_string:
        # Flink types 'abc' as CHAR(3); STRING is what a topic schema wants.
        return "STRING"
    text = literal.this
    if re.fullmatch(r"\d+", text):
        return "INT" if int(text) <= 2**31 - 1 else "BIGINT"
    match = re.fullmatch(r"(\d*)\.(\d*)", text)
    if match:
        whole, fraction = match.group(1).lstrip("0"), match.group(2)
        return f"DECIMAL({max(len(whole) + len(fraction), 1)},{len(fraction)})"
    return "DOUBLE"


def _window_time_type(time_type: str | None) -> str | None:
    match = _TIME_TYPES.match(time_type or "")
    if not match:
        return None
    return "TIMESTAMP_LTZ(3)" if match.group(1) else "TIMESTAMP(3)"


def _is_aggregate(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc) or (
        isinstance(node, exp.Anonymous) and node.name.upper() in _FLINK_AGGREGATES
    )


def _call_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.JSONObjectAgg):  # sqlglot would spell it J_S_O_N_OBJECT_AGG
        return "JSON_OBJECTAGG"
    if isinstance(node, exp.Func):
        return node.sql_name()
    return ""


def _identifier_name(node: exp.Expr | None) -> str:
    return node.name if node is not None else ""


# --------------------------------------------------------------------------------------------
# The walk


class _Analyzer:
    def __init__(self, sql: str, upstream: Mapping[str, Sequence[tuple[str, str | None]]]):
        self.sql = sql
        self.upstream = upstream
        self.relation_refs: list[tuple[int, str]] = []
        self.constructs: set[str] = set()
        self.updating = False

    # -- errors ---------------------------------------------------------------------------

    def error(self, message: str, node: exp.Expr | None, hint: str | None = None) -> None:
        line, column = _position_of(node, self.sql) if node is not None else (None, None)
        raise SqlAnalysisError(message, line, column, hint)

    # -- queries --------------------------------------------------------------------------

    def query(
        self,
        node: exp.Expr,
        ctes: dict[str, _Result],
        parent: _Scope | None,
        named: bool = True,
    ) -> _Result:
        """Analyse a SELECT, a set operation or a parenthesised query.

        ``named``: whether every output column must have a name. Queries whose rows flow to
        the output (the model, its CTEs and FROM subqueries) must; ``IN (SELECT ...)`` or a
        scalar subquery need not.
        """
        with_ = node.args.get("with_")
        if with_ is not None:
            ctes = dict(ctes)
            for cte in with_.expressions:
                # A CTE sees the ones defined before it, not itself (no recursion in Flink).
                ctes[cte.alias] = self._rename(self.query(cte.this, ctes, parent), cte)
        if isinstance(node, exp.Select):
            return self.select(node, ctes, parent, named)
        if isinstance(node, exp.SetOperation):
            return self.set_operation(node, ctes, parent, named)
        if isinstance(node, exp.Subquery):
            return self.query(node.this, ctes, parent, named)
        self.error("expected a query", node)
        raise AssertionError  # unreachable: error() raises

    def set_operation(
        self, node: exp.SetOperation, ctes: dict[str, _Result], parent: _Scope | None, named: bool
    ) -> _Result:
        left = self.query(node.this, ctes, parent, named)
        right = self.query(node.expression, ctes, parent, named=False)  # left names the output
        kind = node.key.upper()
        if node.args.get("distinct") or kind != "UNION":
            # UNION (distinct), INTERSECT and EXCEPT remember every row seen.
            self.constructs.add(kind)
            self.updating = True
        if len(left.columns) != len(right.columns):
            self.error(
                f"the two sides of {kind} have {len(left.columns)} and "
                f"{len(right.columns)} columns",
                node.expression,
            )
        columns = [
            _Col(a.name, a.type if a.type == b.type else None, a.lineage | b.lineage)
            for a, b in zip(left.columns, right.columns, strict=True)
        ]
        window = left.window if left.window == right.window else None
        return _Result(columns, window)

    def select(
        self, node: exp.Select, ctes: dict[str, _Result], parent: _Scope | None, named: bool
    ) -> _Result:
        scope = _Scope([], parent, ctes)
        from_ = node.args.get("from_")
        if from_ is not None:
            scope.sources.append(self.source(from_.this, ctes, scope))
        joins: list[tuple[exp.Join, _Source]] = []
        for join in node.args.get("joins") or ():
            source = self.source(join.this, ctes, scope)
            scope.sources.append(source)
            joins.append((join, source))
        for lateral in node.args.get("laterals") or ():
            # `, LATERAL TABLE(f(x))` sometimes lands here rather than among the joins.
            scope.sources.append(self.source(lateral, ctes, scope))

        match = node.args.get("match")
        if match is not None and scope.sources:
            scope.sources[0] = self.match_recognize(match, scope.sources[0], scope)

        for join, source in joins:
            if join.args.get("on") is not None:
                self.references(join.args["on"], scope)
            for column in join.args.get("using") or ():
                self.using(column, source, scope)
                scope.using_of.setdefault(id(source), []).append(column.name)
            self.classify_join(join, source, scope, node.args.get("where"))

        calls: list[exp.Expr] = []  # aggregates and OVER windows, for classify_select
        for key in ("where", "group", "having", "qualify"):
            clause = node.args.get(key)
            if clause is not None:
                self.references(clause, scope, calls if key in ("having", "qualify") else None)

        columns = self.projections(node, scope, calls, named)

        order = node.args.get("order")
        if order is not None:
            outputs = {col.name for col in columns}
            for ordered in order.expressions:
                item = ordered.this
                if isinstance(item, exp.Column) and not item.table and item.name in outputs:
                    continue  # ORDER BY may name an output column
                self.references(item, scope)

        window = self.classify_select(node, scope, columns, calls)
        return _Result(columns, window)

    @staticmethod
    def _rename(result: _Result, node: exp.Expr) -> _Result:
        """Apply the column list of ``AS t(a, b)`` (or ``WITH t(a, b) AS``) to a result."""
        alias = node.args.get("alias")
        names = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
        if not names:
            return result
        columns = [
            _Col(names[i], col.type, col.lineage) if i < len(names) else col
            for i, col in enumerate(result.columns)
        ]
        return _Result(columns, result.window)

    # -- sources --------------------------------------------------------------------------

    def source(self, node: exp.Expr, ctes: dict[str, _Result], scope: _Scope) -> _Source:
        """The source a FROM / JOIN item offers to its SELECT."""
        alias = node.alias if isinstance(node, (exp.Table, exp.Subquery, exp.Lateral)) else ""
        if isinstance(node, (exp.Unnest, exp.Values)):
            alias = node.alias
        if isinstance(node, exp.Table):
            if isinstance(node.this, exp.Anonymous) and node.this.name.upper() == "TABLE":
                call = node.this.expressions[0] if node.this.expressions else None
                if call is not None and _call_name(call) in WINDOW_TVFS:
                    return self.window_tvf(call, alias, ctes, scope)
                return self.table_function(call, node, scope)
            version = node.args.get("version")
            if version is not None:
                # FOR SYSTEM_TIME AS OF o.proc_time: the time comes from the left side.
                self.references(version.expression, scope)
            parts = [part.name for part in node.parts]
            return self.table(parts, node.this, alias, ctes)
        if isinstance(node, exp.Subquery):
            result = self._rename(self.query(node.this, ctes, scope.parent), node)
            label = alias or "subquery"
            cols = {col.name: col for col in result.columns}
            return _Source(alias, label, cols, window=result.window)
        if isinstance(node, exp.Values):
            # FROM (VALUES ...) AS t(a, b): constant rows, columns named by the alias.
            return self._per_row_source(node, alias or "values", frozenset())
        if isinstance(node, exp.Unnest):
            lineage = self.references(node, scope)
            return self._per_row_source(node, alias or "unnest", lineage)
        if isinstance(node, exp.Lateral):
            lineage = self.references(node.this, scope)
            return self._per_row_source(node, alias or "lateral", lineage)
        self.error(f"unsupported FROM item: {node.sql(dialect=_FLINK)}", node)
        raise AssertionError

    def table(
        self, parts: list[str], at: exp.Expr, alias: str, ctes: dict[str, _Result]
    ) -> _Source:
        """A named table: a CTE, else an upstream relation (``at`` is where it is named)."""
        name = ".".join(parts)
        qualifier = alias or parts[-1]
        if len(parts) == 1 and name in ctes:
            result = ctes[name]
            cols = {col.name: col for col in result.columns}
            return _Source(qualifier, name, cols, window=result.window)
        offset = at.meta.get("start", 0)
        self.relation_refs.append((offset, name))
        declared = self.upstream.get(name) or ()
        cols = {
            col: _Col(col, col_type, frozenset({ColumnRef(name, col)}))
            for col, col_type in declared
        }
        return _Source(qualifier, name, cols, complete=bool(declared), relation=name)

    def _per_row_source(self, node: exp.Expr, label: str, lineage: frozenset[ColumnRef]) -> _Source:
        alias = node.args.get("alias")
        names = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
        cols = {name: _Col(name, None, lineage) for name in names}
        return _Source(label, label, cols, complete=bool(names), correlated=True)

    def table_function(self, call: exp.Expr | None, node: exp.Table, scope: _Scope) -> _Source:
        """``FROM TABLE(f(...))`` with a user table function: only its alias names columns."""
        lineage = self.references(call, scope) if call is not None else frozenset()
        return self._per_row_source(node, node.alias or "table function", lineage)

    def window_tvf(
        self, call: exp.Expr, alias: str, ctes: dict[str, _Result], scope: _Scope
    ) -> _Source:
        """``TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), ...))``: t's columns plus the window's."""
        kind = _call_name(call)
        positional: list[exp.Expr] = []
        named: dict[str, exp.Expr] = {}
        for arg in call.expressions:
            if isinstance(arg, exp.Kwarg):
                named[arg.this.name.upper()] = arg.expression
            else:
                positional.append(arg)
        data = named.get("DATA") or (positional[0] if positional else None)
        timecol = named.get("TIMECOL") or (positional[1] if len(positional) > 1 else None)
        argument = table_argument(data)
        if argument is None:
            self.error(f"the first argument of {kind} must be `TABLE <name>`", data or call)
            raise AssertionError
        table, keys = argument
        parts = [part.name for part in table.parts]
        inner = self.table(parts, table.parts[0], "", ctes)
        for key in keys:
            self.references(key, _Scope([inner], scope.parent, ctes))
        if not (
            isinstance(timecol, exp.Anonymous)
            and timecol.name.upper() == "DESCRIPTOR"
            and len(timecol.expressions) == 1
            and isinstance(timecol.expressions[0], exp.Column)
        ):
            self.error(f"the second argument of {kind} must be `DESCRIPTOR(<time column>)`", call)
            raise AssertionError
        time = self.resolve(timecol.expressions[0], _Scope([inner], scope.parent, ctes))
        cols = dict(inner.columns)
        cols["window_start"] = _Col("window_start", "TIMESTAMP(3)", time.lineage)
        cols["window_end"] = _Col("window_end", "TIMESTAMP(3)", time.lineage)
        cols["window_time"] = _Col("window_time", _window_time_type(time.type), time.lineage)
        return _Source(
            alias or inner.alias,
            inner.label,
            cols,
            complete=inner.complete,
            relation=inner.relation,
            window=kind,
        )

    def match_recognize(self, node: exp.MatchRecognize, source: _Source, scope: _Scope) -> _Source:
        """The rows MATCH_RECOGNIZE emits: its PARTITION BY columns, then its MEASURES."""
        pattern = node.args.get("pattern")
        variables = frozenset(
            re.findall(r"[A-Za-z_][A-Za-z0-9_]*", pattern.name if pattern else "")
        )
        inner = _Scope([source], scope.parent, scope.ctes, source, variables)
        cols: dict[str, _Col] = {}
        for key in node.args.get("partition_by") or ():
            col = self.resolve(key, inner) if isinstance(key, exp.Column) else None
            if col is not None:
                cols[col.name] = col
        order = node.args.get("order")
        if order is not None:
            self.references(order, inner)
        for define in node.args.get("define") or ():
            self.references(define.this, inner)
        rows = node.args.get("rows")
        if rows is not None and rows.name.startswith("ALL ROWS"):
            cols.update(source.columns)
        for measure in node.args.get("measures") or ():
            expression = measure.this
            name = expression.alias if isinstance(expression, exp.Alias) else ""
            if not name:
                self.unnamed(expression, len(cols))
            lineage = self.references(expression, inner)
            cols[name] = _Col(name, self.type_of(expression, inner), lineage)
        self.constructs.add("MATCH_RECOGNIZE")
        alias = node.alias or source.alias
        return _Source(alias, alias, cols)

    # -- columns --------------------------------------------------------------------------

    def using(self, column: exp.Expr, right: _Source, scope: _Scope) -> None:
        """Check one column of ``JOIN right USING (...)`` and make it a column of the join."""
        name = column.name
        before = scope.sources[: next(i for i, s in enumerate(scope.sources) if s is right)]
        joined = scope.using.get(name)  # an earlier USING of the same name
        if joined is None:
            left = [s for s in before if name in s.columns]
            if len(left) > 1:
                labels = ", ".join(f"`{s.alias}`" for s in left)
                self.error(
                    f"USING column '{name}' is in {labels}",
                    column,
                    "join with ON and qualified columns instead",
                )
            # else an input whose columns are not declared may hold it
            left = left or [s for s in before if not s.complete][:1]
            if not left:
                known = sorted({c for s in before for c in s.columns})
                self.error(
                    f"USING column '{name}' is not a column of the tables before the JOIN",
                    column,
                    did_you_mean(name, known) or "USING names columns that both sides have",
                )
            joined = self._column_of(left[0], name, column)
        other = self._column_of(right, name, column)
        same_type = joined.type if joined.type == other.type else None
        scope.using[name] = _Col(name, same_type, joined.lineage | other.lineage)

    def projections(
        self, node: exp.Select, scope: _Scope, calls: list[exp.Expr], named: bool
    ) -> list[_Col]:
        columns: list[_Col] = []
        seen: set[str] = set()  # output names, which must differ where rows flow on by name

        def add(new: list[_Col], item: exp.Expr) -> None:
            for col in new:
                if named and col.name in seen:
                    self.error(
                        f"output column '{col.name}' appears twice",
                        item,
                        "give each output column its own name with AS",
                    )
                seen.add(col.name)
            columns.extend(new)

        for item in node.expressions:
            if isinstance(item, exp.Star):
                add(self.expand_joins(scope, item), item)
                continue
            if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                add(self.expand(self.source_named(item.table, scope, item), item), item)
                continue
            if isinstance(item, exp.Alias):
                name = item.alias
            elif isinstance(item, exp.Column):
                name = item.name
            else:
                name = ""
            if not name:
                if named:
                    self.unnamed(item, len(columns))
                name = f"EXPR${len(columns)}"  # what Flink calls it
            lineage = self.references(item, scope, calls)
            add([_Col(name, self.type_of(item, scope), lineage)], item)
        return columns

    def expand_joins(self, scope: _Scope, star: exp.Expr) -> list[_Col]:
        """``*`` over the FROM clause: each input's columns, joins taken left to right. As in
        Flink, a join with USING gives its USING columns first, once, then the other columns
        of its left side, then those of the joined input."""
        columns: list[_Col] = []
        for source in scope.sources:
            names = scope.using_of.get(id(source), [])
            joined = [scope.using[name] for name in names]
            columns = joined + [
                c for c in (*columns, *self.expand(source, star)) if c.name not in names
            ]
        return columns

    def expand(self, source: _Source, star: exp.Expr) -> list[_Col]:
        if source.correlated and not source.columns and source.complete is False:
            self.error(
                f"cannot expand *: the columns of {source.label} are not known",
                star,
                f"name them with an alias, e.g. AS {source.label}(col1, col2)",
            )
        if not source.complete:
            relation = source.relation or source.label
            self.error(
                f"cannot expand *: the columns of `{relation}` are not declared",
                star,
                f"declare `columns:` on {relation}, or list the columns you need instead of *",
            )
        return list(source.columns.values())

    def unnamed(self, node: exp.Expr, index: int) -> None:
        text = node.sql(dialect=_FLINK)
        self.error(
            f"the expression `{text}` has no name; give it one with AS",
            node,
            f"write `{text} AS <name>`; Flink would call it EXPR${index}",
        )

    def source_named(self, qualifier: str, scope: _Scope, node: exp.Expr) -> _Source:
        for source in scope.sources:
            if source.alias == qualifier:
                return source
        names = [source.alias for source in scope.sources]
        self.error(f"unknown table or alias '{qualifier}'", node, did_you_mean(qualifier, names))
        raise AssertionError

    def references(
        self, node: exp.Expr, scope: _Scope, calls: list[exp.Expr] | None = None
    ) -> frozenset[ColumnRef]:
        """Check every column ``node`` references; return the upstream columns they come from.

        Nested queries (``IN (SELECT ...)``, scalar subqueries) are analysed in turn, with
        ``scope`` as their enclosing scope. Aggregate calls and OVER windows met on the way
        (outside nested queries) are appended to ``calls``, so that one walk serves both.
        """
        lineage: set[ColumnRef] = set()
        stack = [node]
        # This loop is the hottest of the analysis: it reads `args` directly rather than
        # through iter_expressions(), which costs a generator per node.
        while stack:
            current = stack.pop()
            if type(current) is exp.Column:
                if type(current.this) is not exp.Star:
                    lineage |= self.resolve(current, scope).lineage
                continue
            if isinstance(current, _QUERIES):
                # Flink plans IN / EXISTS / scalar subqueries as joins, which keep state.
                self.constructs.add("subquery")
                for col in self.query(current, scope.ctes, scope, named=False).columns:
                    lineage |= col.lineage
                continue
            if calls is not None and (isinstance(current, _CALLS) or _is_aggregate(current)):
                calls.append(current)
            children: list[exp.Expr] = []
            for value in current.args.values():
                if isinstance(value, exp.Expr):
                    children.append(value)
                elif type(value) is list:
                    children.extend(v for v in value if isinstance(v, exp.Expr))
            # Reversed so that the first reference in the text is checked first.
            children.reverse()
            stack.extend(children)
        return frozenset(lineage)

    def resolve(self, column: exp.Column, scope: _Scope) -> _Col:
        """The column ``column`` refers to, looked up from ``scope`` outwards."""
        name, qualifier = column.name, column.table
        if column.args.get("db") is not None:
            # `o.payload.id`: field `id` of the ROW column `payload` of `o`.
            name, qualifier = qualifier, column.text("db")
            return self._field_of(self._resolve_name(name, qualifier, scope, column))
        current: _Scope | None = scope
        while current is not None:
            found = self._lookup(name, qualifier, current, column)
            if found is not None:
                return found
            current = current.parent
        if qualifier:
            # `payload.id` with no source named `payload`: a field of a ROW column, if any.
            if any(qualifier in s.columns for s in scope.sources):
                return self._field_of(self._resolve_name(qualifier, "", scope, column))
            self.source_named(qualifier, scope, column)  # raises: no such alias anywhere
        known = sorted({c for source in scope.sources for c in source.columns})
        where = f" in `{scope.sources[0].label}`" if len(scope.sources) == 1 else ""
        self.error(f"unknown column '{name}'{where}", column, did_you_mean(name, known))
        raise AssertionError

    def _resolve_name(self, name: str, qualifier: str, scope: _Scope, node: exp.Column) -> _Col:
        column = exp.column(name, qualifier or None)
        column.this.meta.update(node.this.meta)  # errors point at the original reference
        return self.resolve(column, scope)

    @staticmethod
    def _field_of(row: _Col) -> _Col:
        return _Col(row.name, None, row.lineage)

    def _lookup(self, name: str, qualifier: str, scope: _Scope, node: exp.Column) -> _Col | None:
        if qualifier:
            source = next((s for s in scope.sources if s.alias == qualifier), None)
            if source is None and qualifier in scope.pattern_vars:
                source = scope.pattern_source
            if source is None:
                return None
            return self._column_of(source, name, node)
        if name in scope.using:
            return scope.using[name]
        hits = [source for source in scope.sources if name in source.columns]
        if len(hits) > 1:
            labels = ", ".join(f"`{s.alias}`" for s in hits)
            self.error(
                f"column '{name}' is ambiguous: it is in {labels}",
                node,
                f"qualify it, e.g. {hits[0].alias}.{name}",
            )
        if hits:
            return hits[0].columns[name]
        unknown = [source for source in scope.sources if not source.complete]
        if unknown:
            # Some input does not declare its columns: the name may well be one of them.
            # Lineage then names every such input, since we cannot tell which it is.
            lineage = frozenset(
                ColumnRef(s.relation, name) for s in unknown if s.relation is not None
            )
            return _Col(name, None, lineage)
        return None

    def _column_of(self, source: _Source, name: str, node: exp.Expr) -> _Col:
        col = source.columns.get(name)
        if col is not None:
            return col
        if not source.complete:
            lineage = (
                frozenset({ColumnRef(source.relation, name)}) if source.relation else frozenset()
            )
            return _Col(name, None, lineage)
        self.error(
            f"unknown column '{name}' in `{source.label}`",
            node,
            did_you_mean(name, source.columns),
        )
        raise AssertionError

    # -- types ----------------------------------------------------------------------------

    def type_of(self, node: exp.Expr, scope: _Scope) -> str | None:
        """The Flink type of an expression, when it can be told cheaply; else None."""
        if isinstance(node, (exp.Alias, exp.Paren, exp.Neg, exp.Window)):
            return self.type_of(node.this, scope)
        if isinstance(node, exp.Column):
            return self.resolve(node, scope).type
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return _type_text(node.to)
        if isinstance(node, exp.Literal):
            return _literal_type(node)
        if isinstance(node, _BOOLEAN_NODES):
            return "BOOLEAN"
        if isinstance(node, (exp.Count, *_TOP_N_FUNCTIONS)):
            return "BIGINT"
        if isinstance(node, _SAME_TYPE_AGGREGATES):
            return _aggregate_type(type(node).__name__, self.type_of(node.this, scope))
        if isinstance(node, _STRING_FUNCTIONS):
            return "STRING"
        if isinstance(node, exp.Anonymous):
            name = node.name.upper()
            if name in ("PROCTIME", "TO_TIMESTAMP_LTZ"):
                return "TIMESTAMP_LTZ(3)"
            if name == "CURRENT_WATERMARK" and node.expressions:
                return self.type_of(node.expressions[0], scope)
            if name in _CALL_TYPES:
                return _CALL_TYPES[name]
            if name == "TIMESTAMPADD" and len(node.expressions) == 3:
                return self.type_of(node.expressions[2], scope)
            return None
        if isinstance(node, (exp.JSONObject, exp.JSONObjectAgg)):
            return "STRING"
        if isinstance(node, (exp.CurrentTimestamp, exp.StrToTime)):
            return "TIMESTAMP_LTZ(3)" if isinstance(node, exp.CurrentTimestamp) else "TIMESTAMP(3)"
        if isinstance(node, exp.Case):
            branches = [i.args.get("true") for i in node.args.get("ifs") or ()]
            branches.append(node.args.get("default"))
            return self._common_type(branches, scope)
        if isinstance(node, exp.Coalesce):
            return self._common_type([node.this, *node.expressions], scope)
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
            left = self.type_of(node.this, scope)
            right = self.type_of(node.expression, scope)
            return _arithmetic_type(type(node).__name__, left, right)
        return None

    def _common_type(self, nodes: Iterable[exp.Expr | None], scope: _Scope) -> str | None:
        types = {
            self.type_of(n, scope) for n in nodes if n is not None and not isinstance(n, exp.Null)
        }
        return types.pop() if len(types) == 1 else None

    # -- state ----------------------------------------------------------------------------

    def classify_join(
        self, join: exp.Join, source: _Source, scope: _Scope, where: exp.Expr | None
    ) -> None:
        """Name the join's kind: per-row (no state), temporal, interval, window or regular."""
        if source.correlated:
            return  # UNNEST / LATERAL TABLE work row by row
        right = join.this
        if isinstance(right, exp.Table) and right.args.get("version") is not None:
            self.constructs.add("temporal JOIN")
            return
        condition = join.args.get("on")
        if condition is None and where is not None:
            condition = where.this  # FROM a, b WHERE ...: the join condition is in WHERE
        left_windowed = any(s.has_window_columns() for s in scope.sources if s is not source)
        if (
            condition is not None
            and left_windowed
            and source.has_window_columns()
            and _equates(condition, "window_start")
            and _equates(condition, "window_end")
        ):
            self.constructs.add("window JOIN")
            self.constructs.update(
                f"window TVF {s.window}" for s in scope.sources if s.window is not None
            )
            return
        if condition is not None and self._has_time_bounds(condition, source, scope):
            self.constructs.add("interval JOIN")
            return
        self.constructs.add("JOIN")
        # An inner join of append-only inputs only appends; outer joins retract the rows they
        # padded with NULLs once a match arrives.
        if join.side in ("LEFT", "RIGHT", "FULL"):
            self.updating = True

    def _has_time_bounds(self, condition: exp.Expr, right: _Source, scope: _Scope) -> bool:
        """Whether the condition bounds one side's time by the other's (an interval join)."""
        for node in condition.walk():
            if isinstance(node, exp.Between):
                sides = (node.this, exp.Tuple(expressions=[node.args["low"], node.args["high"]]))
            elif isinstance(node, (exp.GT, exp.GTE, exp.LT, exp.LTE)):
                sides = (node.this, node.expression)
            else:
                continue
            a, b = (self._sides_of(side, right, scope) for side in sides)
            if a and b and a != b and len(a | b) == 2:
                return True
        return False

    @staticmethod
    def _sides_of(node: exp.Expr, right: _Source, scope: _Scope) -> set[bool]:
        """For each column in ``node``: True when it belongs to the joined source."""
        sides: set[bool] = set()
        for col in node.find_all(exp.Column):
            if col.table:
                sides.add(col.table == right.alias)
            else:
                sides.add(col.name in right.columns)
        return sides

    def classify_select(
        self, node: exp.Select, scope: _Scope, columns: list[_Col], calls: list[exp.Expr]
    ) -> str | None:
        """Record the state the SELECT keeps; return the window TVF its output carries."""
        windowed_source = next((s for s in scope.sources if s.has_window_columns()), None)
        window = windowed_source.window if windowed_source is not None else None
        before = len(self.constructs)
        group = node.args.get("group")
        grouping = {
            f"aggregate {_call_name(call)}"
            for call in calls
            if _is_aggregate(call) and not isinstance(call.parent, exp.Window)
        }
        if group is not None:
            grouping.add("GROUP BY")
        if grouping:
            self.constructs.update(grouping)
            keys = group.expressions if group is not None else []
            group_windows = [k for k in keys if _call_name(k) in ("TUMBLE", "HOP", "SESSION")]
            if group_windows:
                self.constructs.update(f"group window {_call_name(k)}" for k in group_windows)
            elif windowed_source is not None and _names(keys) >= {"window_start", "window_end"}:
                pass  # a window aggregation emits each window once, when it closes
            else:
                self.updating = True
        if node.args.get("distinct") is not None:
            self.constructs.add("DISTINCT")
            outputs = {col.name for col in columns}
            if windowed_source is None or not {"window_start", "window_end"} <= outputs:
                self.updating = True
        for over in calls:
            if not isinstance(over, exp.Window) or not over.args.get("over"):
                continue
            if isinstance(over.this, _TOP_N_FUNCTIONS):
                keys = over.args.get("partition_by") or []
                if windowed_source is not None and _names(keys) >= {"window_start", "window_end"}:
                    self.constructs.add("window Top-N")
                else:
                    self.constructs.add("Top-N")
                    self.updating = True
            else:
                self.constructs.add("OVER window")
        if node.args.get("limit") is not None:
            self.constructs.add("LIMIT")
            self.updating = True
        if len(self.constructs) > before:
            self.constructs.update(
                f"window TVF {s.window}" for s in scope.sources if s.window is not None
            )
        outputs = {col.name for col in columns}
        return window if {"window_start", "window_end"} & outputs else None


def _names(nodes: Iterable[exp.Expr]) -> set[str]:
    return {n.name for n in nodes if isinstance(n, exp.Column)}


def _equates(condition: exp.Expr, name: str) -> bool:
    return any(
        isinstance(eq.this, exp.Column)
        and isinstance(eq.expression, exp.Column)
        and eq.this.name == name == eq.expression.name
        for eq in condition.find_all(exp.EQ)
    )


# -- arithmetic types ---------------------------------------------------------------------------

_INTEGERS = ("TINYINT", "SMALLINT", "INT", "BIGINT")
_INTEGER_DIGITS = {"TINYINT": 3, "SMALLINT": 5, "INT": 10, "BIGINT": 19}
# Kinds of Flink types between which a query's value never converts implicitly into a sink's
# column. Within a kind Flink takes some (INT into BIGINT, TIMESTAMP into TIMESTAMP_LTZ) and
# refuses others (BIGINT into INT, DATE into TIMESTAMP): only a change of kind surely fails.
_TYPE_KINDS = {
    "text": ("CHAR", "VARCHAR", "STRING"),
    "number": (
        *("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT"),
        *("DECIMAL", "DEC", "NUMERIC", "FLOAT", "DOUBLE", "REAL"),
    ),
    "boolean": ("BOOLEAN",),
    "time": ("DATE", "TIME", "TIMESTAMP", "TIMESTAMP_LTZ"),
    "bytes": ("BINARY", "VARBINARY", "BYTES"),
}
_KIND_OF = {name: kind for kind, names in _TYPE_KINDS.items() for name in names}
_TYPE_NAME = re.compile(r"^\s*([A-Za-z_]+)")


def type_kind(type_text: str | None) -> str | None:
    """``"text"``, ``"number"``, ``"boolean"``, ``"time"`` or ``"bytes"`` for a Flink type,
    None for any other (ROW, ARRAY, MAP ...) or unknown one."""
    match = _TYPE_NAME.match(type_text or "")
    return _KIND_OF.get(match.group(1).upper()) if match else None


_DECIMAL = re.compile(r"^DECIMAL\((\d+),(\d+)\)$")
_MAX_PRECISION = 38


def _as_decimal(type_text: str) -> tuple[int, int] | None:
    match = _DECIMAL.match(type_text.replace(" ", ""))
    if match:
        return int(match.group(1)), int(match.group(2))
    if type_text in _INTEGER_DIGITS:
        return _INTEGER_DIGITS[type_text], 0
    return None


def _aggregate_type(function: str, argument: str | None) -> str | None:
    """Flink widens SUM of a DECIMAL(p,s) to DECIMAL(38,s) and AVG to DECIMAL(38,max(s,6));
    other aggregates (and SUM/AVG of integers and floats) keep their argument's type."""
    decimal = _DECIMAL.match((argument or "").replace(" ", "").upper())
    if decimal and function == "Sum":
        return f"DECIMAL({_MAX_PRECISION},{decimal.group(2)})"
    if decimal and function == "Avg":
        return f"DECIMAL({_MAX_PRECISION},{max(int(decimal.group(2)), 6)})"
    return argument


def _arithmetic_type(operator: str, left: str | None, right: str | None) -> str | None:
    """Flink's result type of ``left <op> right`` for numeric operands (None if unknown).

    Integers widen to the larger integer; any DOUBLE makes DOUBLE (FLOAT with FLOAT stays
    FLOAT); decimals follow Flink's precision and scale rules, capped at 38 digits.
    """
    if left is None or right is None:
        return None
    left, right = left.upper(), right.upper()
    if left in _INTEGERS and right in _INTEGERS:
        return max(left, right, key=_INTEGERS.index)
    if {left, right} <= {"FLOAT", "DOUBLE", *_INTEGERS} and (
        "DOUBLE" in (left, right) or "FLOAT" in (left, right)
    ):
        return "FLOAT" if {left, right} <= {"FLOAT", *_INTEGERS} else "DOUBLE"
    a, b = _as_decimal(left), _as_decimal(right)
    if a is None or b is None:
        return None
    (p1, s1), (p2, s2) = a, b
    if operator in ("Add", "Sub"):
        scale = max(s1, s2)
        precision = max(p1 - s1, p2 - s2) + scale + 1
    elif operator == "Mul":
        precision, scale = p1 + p2, s1 + s2
    elif operator == "Div":
        scale = max(6, s1 + p2 + 1)
        precision = p1 - s1 + s2 + scale
    else:  # Mod
        scale = max(s1, s2)
        precision = min(p1 - s1, p2 - s2) + scale
    if precision > _MAX_PRECISION:  # keep the integer digits, give up scale (down to 6)
        scale = max(min(scale, 6), scale - (precision - _MAX_PRECISION))
        precision = _MAX_PRECISION
    return f"DECIMAL({precision},{scale})"
