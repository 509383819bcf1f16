"""The SQL that a Gateway SQL topic (``VirtualSqlTopicPlugin``) can run, read off the parsed query.

The Gateway runs ``SELECT <fields> FROM <one topic> [WHERE <conditions>]`` where the conditions
are comparisons (``=  >  >=  <  <=  <>``) and MySQL ``REGEXP`` joined only by ``AND``, and the
select list may hold ``CASE WHEN ... THEN ... ELSE ... END``. Conduktor's own tests show that
``OR``, ``IN``, ``IS [NOT] NULL``, ``LIKE`` and ``BETWEEN`` are refused.

:func:`unsupported` names the first construct of a query outside that subset (or None), and
:func:`statement` writes the Gateway's statement from the same tree, with the input replaced by
the physical topic. Both walk the sqlglot tree; nothing here looks at SQL text.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

SUBSET = (
    "one input; a WHERE of comparisons =, >, >=, <, <=, <> and REGEXP joined by AND; "
    "columns, literals and CASE in the select list"
)
_COMPARISONS: dict[type[exp.Expression], str] = {
    exp.EQ: "=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.NEQ: "<>",
}
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# constructs named in reasons, most specific first (Is is refined into IS [NOT] NULL below)
_NAMED: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Or, "OR"),
    (exp.In, "IN"),
    (exp.Like, "LIKE"),
    (exp.ILike, "ILIKE"),
    (exp.Between, "BETWEEN"),
    (exp.Not, "NOT"),
    (exp.Exists, "EXISTS"),
    (exp.Xor, "XOR"),
)


class NotInSubset(Exception):
    """Raised while writing a statement for a tree outside the subset (never for a checked one)."""


def unsupported(tree: exp.Expression) -> str | None:
    """What in ``tree`` the Gateway cannot run, as a short phrase, or None when all of it fits."""
    try:
        _check_query(tree)
    except NotInSubset as exc:
        return str(exc)
    return None


def statement(tree: exp.Expression, topic: str) -> str:
    """The Gateway statement of a query that fits the subset, reading ``topic``."""
    select = _check_query(tree)
    fields = ", ".join(_projection(e) for e in select.expressions)
    text = f"SELECT {fields} FROM {_identifier(topic)}"
    where = select.args.get("where")
    if where is not None:
        text += " WHERE " + _condition(where.this)
    return text


def _check_query(tree: exp.Expression) -> exp.Select:
    if isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        raise NotInSubset(f"a set operation ({tree.key.upper()}) of several queries")
    if not isinstance(tree, exp.Select):
        raise NotInSubset(f"a {tree.key.upper()} statement (only SELECT)")
    if tree.args.get("joins"):
        names = sorted({t.name for t in tree.find_all(exp.Table)})
        raise NotInSubset(f"a join of several inputs ({', '.join(names)})")
    for key, what in (
        ("with", "a WITH clause"),
        ("laterals", "LATERAL"),
        ("group", "GROUP BY (an aggregation)"),
        ("having", "HAVING"),
        ("qualify", "QUALIFY"),
        ("order", "ORDER BY"),
        ("limit", "LIMIT"),
        ("offset", "OFFSET"),
        ("distinct", "DISTINCT"),
        ("windows", "a WINDOW clause"),
        ("match", "MATCH_RECOGNIZE"),
    ):
        if tree.args.get(key):
            raise NotInSubset(what)
    source = tree.args.get("from") or tree.args.get("from_")
    if source is None:
        raise NotInSubset("a query without FROM")
    if not isinstance(source.this, exp.Table) or not isinstance(source.this.this, exp.Identifier):
        inner = source.this
        if isinstance(inner, exp.Subquery):
            raise NotInSubset("a subquery in FROM")
        function = next(
            (f for f in inner.find_all(exp.Func) if _function_name(f) not in ("TABLE", "TABLEFN")),
            None,
        )
        if function is not None:
            raise NotInSubset(f"the table function {_function_name(function)}")
        raise NotInSubset(f"{inner.key.upper()} in FROM (only one topic)")
    for node in tree.walk():
        if isinstance(node, exp.Subquery | exp.Select) and node is not tree:
            raise NotInSubset("a subquery")
        if isinstance(node, exp.AggFunc):
            raise NotInSubset(f"the aggregate function {_function_name(node)}")
        if isinstance(node, exp.Window):
            raise NotInSubset("an OVER window")
    tables = {t.name for t in tree.find_all(exp.Table)}
    if len(tables) > 1:
        raise NotInSubset(f"several inputs ({', '.join(sorted(tables))})")
    qualifiers = {source.this.name, source.this.alias_or_name}
    for expression in tree.expressions:
        _projection(expression, qualifiers)
    where = tree.args.get("where")
    if where is not None:
        _condition(where.this, qualifiers)
    return tree


def _projection(node: exp.Expression, qualifiers: set[str] | None = None) -> str:
    if isinstance(node, exp.Star):
        return "*"
    if isinstance(node, exp.Alias):
        return f"{_value(node.this, qualifiers, case=True)} AS {_identifier(node.alias)}"
    return _value(node, qualifiers, case=True)


def _condition(node: exp.Expression, qualifiers: set[str] | None = None) -> str:
    """A WHERE condition (or CASE WHEN condition): comparisons and REGEXP joined by AND."""
    if isinstance(node, exp.Paren):
        return _condition(node.this, qualifiers)
    if isinstance(node, exp.And):
        return f"{_condition(node.this, qualifiers)} AND {_condition(node.expression, qualifiers)}"
    operator = _COMPARISONS.get(type(node))
    if operator is not None:
        left = _value(node.this, qualifiers)
        right = _value(node.expression, qualifiers)
        return f"{left} {operator} {right}"
    if isinstance(node, exp.RegexpLike):
        return f"{_value(node.this, qualifiers)} REGEXP {_value(node.expression, qualifiers)}"
    if (
        isinstance(node, exp.Anonymous)
        and node.name.upper() == "REGEXP"
        and len(node.expressions) == 2
    ):
        subject, pattern = node.expressions
        return f"{_value(subject, qualifiers)} REGEXP {_value(pattern, qualifiers)}"
    raise NotInSubset(_construct(node) + " in a condition")


def _value(node: exp.Expression, qualifiers: set[str] | None, case: bool = False) -> str:
    """A column, a literal, or (in the select list) a CASE of those."""
    if isinstance(node, exp.Paren):
        return _value(node.this, qualifiers, case)
    if isinstance(node, exp.Column):
        if isinstance(node.this, exp.Star):
            return "*"
        if node.table and qualifiers is not None and node.table not in qualifiers:
            raise NotInSubset(f"the qualified column {node.sql()}")
        if node.args.get("db") or node.args.get("catalog"):
            raise NotInSubset(f"the qualified column {node.sql()}")
        return _identifier(node.name)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "'" + node.this.replace("'", "''") + "'"
        return str(node.this)
    if isinstance(node, exp.Boolean):
        return "TRUE" if node.this else "FALSE"
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return f"-{node.this.this}"
    if isinstance(node, exp.Case):
        if not case:
            raise NotInSubset("CASE outside the select list")
        if node.this is not None:
            raise NotInSubset("CASE <value> WHEN (write CASE WHEN <condition>)")
        parts = ["CASE"]
        for branch in node.args.get("ifs") or []:
            condition = _condition(branch.this, qualifiers)
            parts.append(f"WHEN {condition} THEN {_value(branch.args['true'], qualifiers)}")
        default = node.args.get("default")
        if default is not None:
            parts.append(f"ELSE {_value(default, qualifiers)}")
        parts.append("END")
        return " ".join(parts)
    raise NotInSubset(_construct(node))


def _construct(node: exp.Expression) -> str:
    """A user-facing name for a construct outside the subset."""
    if isinstance(node, exp.Not) and isinstance(node.this, exp.Is):
        return "IS NOT NULL" if isinstance(node.this.expression, exp.Null) else "IS NOT"
    if isinstance(node, exp.Is):
        return "IS NULL" if isinstance(node.expression, exp.Null) else "IS"
    for kind, name in _NAMED:
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod | exp.DPipe):
        return f"the arithmetic or string operator in {node.sql()}"
    if isinstance(node, exp.Cast | exp.TryCast):
        return "CAST"
    if isinstance(node, exp.Func):
        return f"the function {_function_name(node)}()"
    return node.key.upper()


def _function_name(node: Any) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return node.sql_name()
    return node.key.upper()


def _identifier(name: str) -> str:
    """A topic or field name, double-quoted when it is not a plain identifier (``orders-raw``)."""
    if _PLAIN.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'
