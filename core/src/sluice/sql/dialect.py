"""A sqlglot dialect for Apache Flink SQL, registered under the name ``"flink"``.

sqlglot has no Flink dialect, and none of its dialects accepts Flink's table arguments
(``TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)``). The base dialect already parses
almost everything else Flink uses (``FOR SYSTEM_TIME AS OF``, OVER windows, ``UNNEST``,
``LATERAL TABLE(...)``, MATCH_RECOGNIZE, CTEs), so this dialect starts from it.

It deliberately subclasses neither sqlglot's ``Parser`` nor its ``Generator`` (nor any
expression class): with the compiled build of sqlglot (``sqlglotc``, about three times faster)
those are native classes that Python code cannot subclass. What Flink needs on top is done
around them instead:

* the tokenizer (a Python class in both builds): backticks quote identifiers,
  ``MATCH_RECOGNIZE`` is a keyword, ``ROW`` reads as the stock STRUCT type, and ``SESSION`` is
  a plain name (so ``SESSION(...)`` is a call, the session window TVF);
* :meth:`Flink.tokenize` rewrites a table argument ``TABLE t [PARTITION BY k]`` into the call
  ``TABLE(t [, PARTITION_BY(k)])``, which the stock parser reads as
  ``Anonymous(TABLE, [Column t, ...])``;
* :meth:`Flink.generate` writes such trees back in Flink's spelling.

Once this module is imported, ``sqlglot.parse_one(sql, read="flink")`` works.
"""

from __future__ import annotations

import re
import threading
from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError
from sqlglot.tokens import Token, TokenType
from sqlglot.tokens import Tokenizer as BaseTokenizer

__all__ = ["PARTITION_BY", "WINDOW_TVFS", "Flink", "table_argument"]

#: The window table-valued functions of Flink, by upper-case name.
WINDOW_TVFS: frozenset[str] = frozenset({"TUMBLE", "HOP", "CUMULATE", "SESSION"})

# The units of TIMESTAMPADD and TIMESTAMPDIFF.
_TIME_UNITS = frozenset({"SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"})
_OWN_TIMESTAMPDIFF = "SLUICE_TIMESTAMPDIFF"  # the name sqlglot sees for Flink's TIMESTAMPDIFF
# Flink's JSON functions that end with clauses, and the words those clauses start with; a
# clause starts right after an argument (a value, a name, a closing bracket), where no operator
# could join what follows to it: `x IS NULL` is an argument, `'$.a' NULL ON EMPTY` a clause
_JSON_CLAUSE_FUNCTIONS = frozenset({"JSON_VALUE", "JSON_QUERY", "JSON_EXISTS", "JSON_ARRAY"})
_CLAUSE_WORDS = frozenset(
    {"RETURNING", "NULL", "ERROR", "DEFAULT", "EMPTY", "TRUE", "FALSE", "UNKNOWN"}
    | {"WITH", "WITHOUT", "ABSENT"}
)
_ARGUMENT_ENDS = frozenset(
    {TokenType.STRING, TokenType.NUMBER, TokenType.VAR, TokenType.IDENTIFIER, TokenType.NULL}
    | {TokenType.TRUE, TokenType.FALSE, TokenType.R_PAREN, TokenType.R_BRACKET}
)
# The pseudo function that carries SESSION's `PARTITION BY` keys inside `TABLE(...)`.
PARTITION_BY = "PARTITION_BY"
_NAME_TOKENS = (TokenType.VAR, TokenType.IDENTIFIER)


def table_argument(node: exp.Expr | None) -> tuple[exp.Column, list[exp.Expr]] | None:
    """If ``node`` is a Flink table argument (``TABLE t [PARTITION BY k]``), its parts.

    Returns the table as a :class:`sqlglot.exp.Column` (its ``parts`` name the table) and the
    partition keys, or None when ``node`` is something else.
    """
    if not (
        isinstance(node, exp.Anonymous)
        and node.name.upper() == "TABLE"
        and node.expressions
        and isinstance(node.expressions[0], exp.Column)
    ):
        return None
    keys: list[exp.Expr] = []
    for extra in node.expressions[1:]:
        if isinstance(extra, exp.Anonymous) and extra.name.upper() == PARTITION_BY:
            for key in extra.expressions:
                keys.extend(key.expressions if isinstance(key, exp.Tuple) else [key])
    return node.expressions[0], keys


class Flink(Dialect):
    """Apache Flink SQL (Calcite based): backtick identifiers, window TVFs, MATCH_RECOGNIZE."""

    # Flink identifiers are case sensitive and kept as written.
    NORMALIZATION_STRATEGY = Dialect.NORMALIZATION_STRATEGY.CASE_SENSITIVE

    class Tokenizer(BaseTokenizer):
        IDENTIFIERS: ClassVar[list[str | tuple[str, str]]] = ["`"]
        QUOTES: ClassVar[list[str | tuple[str, str]]] = ["'"]
        KEYWORDS: ClassVar[dict[str, TokenType]] = {
            **{k: v for k, v in BaseTokenizer.KEYWORDS.items() if k != "SESSION"},
            # The base tokenizer reads MATCH_RECOGNIZE as a name, so `t MATCH_RECOGNIZE (...)`
            # would alias the table instead of starting the clause.
            "MATCH_RECOGNIZE": TokenType.MATCH_RECOGNIZE,
            # ROW<a INT> and ROW(a INT) are types (the stock STRUCT); ROW(x, y) is still a call
            "ROW": TokenType.STRUCT,
        }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._per_thread = threading.local()

    def tokenize(self, sql: str, dialect: Any = None) -> list[Token]:
        """Tokenize, then turn table arguments into calls the stock parser understands."""
        tokens = self._own_tokenizer(dialect).tokenize(sql)
        lowered = sql.lower()
        if "timestampdiff" in lowered:
            tokens = [_hide_timestampdiff(t) for t in tokens]
        if "json_" in lowered:
            tokens = _json_clauses(tokens)
        if "within" in lowered and "match_recognize" in lowered:
            tokens = _drop_pattern_within(tokens)
        # the common case: no TABLE keyword, so no scan of the tokens either
        if "table" not in lowered or not any(t.token_type == TokenType.TABLE for t in tokens):
            return tokens
        return _wrap_table_arguments(tokens)

    def _own_tokenizer(self, dialect: Any) -> BaseTokenizer:
        """This thread's tokenizer, reused: building one costs as much as tokenizing a query."""
        if dialect is not None and dialect is not self:
            return self.tokenizer(dialect)
        tokenizer: BaseTokenizer | None = getattr(self._per_thread, "tokenizer", None)
        if tokenizer is None:
            tokenizer = self._per_thread.tokenizer = self.tokenizer()
        return tokenizer

    def parse(self, sql: str, **opts: Any) -> list[exp.Expr | None]:
        """Parse; a call that does not fit the sqlglot built-in of its name is kept as is.

        Flink user functions often share a name, not the arity, with a built-in of another
        engine (a table function ``split(s)`` vs sqlglot's two-argument SPLIT). Flink resolves
        those itself, so such a query is parsed again without sqlglot's arity checks.
        The map constructor ``MAP[k, v, ...]`` is read as the call ``MAP(k, v, ...)``.
        """
        try:
            trees = super().parse(sql, **opts)
        except ParseError as error:
            if opts.get("error_level") is not None or not _is_call_arity_error(error):
                raise
            trees = self._parse_without_arity_checks(sql)
        lowered = sql.lower()
        for tree in trees:
            if tree is None:
                continue
            if "map" in lowered:
                _map_constructors(tree)
            if "timestampadd" in lowered or "timestampdiff" in lowered:
                _time_unit_arguments(tree)
        return trees

    def _parse_without_arity_checks(self, sql: str) -> list[exp.Expr | None]:
        parser = self.parser(error_level=ErrorLevel.IGNORE)
        trees = parser.parse(self.tokenize(sql), sql)
        if parser.errors:
            raise parser.errors[0]
        for tree in trees:
            # On that path `, LATERAL TABLE(f(x))` lands in Hive's `laterals` slot (LATERAL
            # VIEW); put it back among the joins, where a comma join of it belongs.
            for select in tree.find_all(exp.Select) if tree is not None else ():
                for lateral in select.args.get("laterals") or ():
                    select.append("joins", exp.Join(this=lateral.pop()))
                select.set("laterals", None)
        return trees

    def generate(self, expression: exp.Expr, copy: bool = True, **opts: Any) -> str:
        """Write a tree as Flink SQL (table arguments, temporal joins, Flink type names)."""
        expression = _to_flink_spelling(expression.copy() if copy else expression, self, opts)
        return super().generate(expression, copy=False, **opts)


def _hide_timestampdiff(token: Token) -> Token:
    if token.token_type == TokenType.VAR and token.text.upper() == "TIMESTAMPDIFF":
        return _token(TokenType.VAR, _OWN_TIMESTAMPDIFF, token)
    return token


def _time_unit_arguments(tree: exp.Expr) -> None:
    """``TIMESTAMPADD(DAY, 1, ts)`` and ``TIMESTAMPDIFF(SECOND, a, b)``: their first argument
    is a unit, not a column named DAY. sqlglot's own TIMESTAMPDIFF takes its arguments in
    another order, so the tokenizer hides the name from it (:func:`_hide_timestampdiff`)."""
    for call in list(tree.find_all(exp.Anonymous)):
        if call.name == _OWN_TIMESTAMPDIFF:
            call.set("this", "TIMESTAMPDIFF")
        if call.name.upper() not in ("TIMESTAMPADD", "TIMESTAMPDIFF") or not call.expressions:
            continue
        unit = call.expressions[0]
        if (
            isinstance(unit, exp.Column)
            and not unit.table
            and isinstance(unit.this, exp.Identifier)
            and not unit.this.quoted
            and unit.name.upper() in _TIME_UNITS
        ):
            unit.replace(exp.Var(this=unit.name.upper()))


def _map_constructors(tree: exp.Expr | None) -> None:
    """``MAP['a', 1]`` reads as the element of a column named MAP; make it the call
    ``MAP('a', 1)`` (MAP is reserved in Flink, so an unquoted MAP column cannot be meant)."""
    for node in list(tree.find_all(exp.Bracket)) if tree is not None else ():
        name = node.this
        if (
            isinstance(name, exp.Column)
            and not name.table
            and isinstance(name.this, exp.Identifier)
            and not name.this.quoted
            and name.name.upper() == "MAP"
        ):
            node.replace(exp.Anonymous(this="MAP", expressions=node.expressions))


_ARITY_ERROR = re.compile(
    r"Required keyword: '\w+' missing for <class '[\w.]*\.(\w+)'>|The number of provided arguments"
)


def _is_call_arity_error(error: ParseError) -> bool:
    description = str(error.errors[0].get("description") or "") if error.errors else ""
    match = _ARITY_ERROR.match(description)
    if match is None:
        return False
    if match.group(1) is None:
        return True  # only function calls count their arguments
    # "Required keyword" is also how sqlglot reports `a >` with nothing after it; only a
    # function class counts here.
    node_class = getattr(exp, match.group(1), None)
    return isinstance(node_class, type) and issubclass(node_class, exp.Func)


def _token(kind: TokenType, text: str, near: Token) -> Token:
    # Synthetic tokens take the position of the token they sit next to, so errors still point
    # into the user's text.
    return Token(kind, text, near.line, near.col, near.start, near.end)


def _wrap_table_arguments(tokens: list[Token]) -> list[Token]:
    """``TABLE a.b PARTITION BY k`` -> ``TABLE ( a.b , PARTITION_BY ( k ) )``.

    ``TABLE (`` is left alone: that is the ``FROM TABLE(f(...))`` wrapper the base parser
    already reads. Partition keys run to the next top-level comma or closing parenthesis.
    """
    out: list[Token] = []
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        out.append(token)
        i += 1
        if (
            token.token_type != TokenType.TABLE
            or i >= n
            or tokens[i].token_type not in _NAME_TOKENS
        ):
            continue
        out.append(_token(TokenType.L_PAREN, "(", token))
        out.append(tokens[i])  # the table name, maybe dotted: cat.db.t
        i += 1
        while i + 1 < n and tokens[i].token_type == TokenType.DOT:
            out.extend(tokens[i : i + 2])
            i += 2
        last = out[-1]
        if i < n and tokens[i].token_type == TokenType.PARTITION_BY:
            partition = tokens[i]
            out.append(_token(TokenType.COMMA, ",", partition))
            out.append(_token(TokenType.VAR, PARTITION_BY, partition))
            out.append(_token(TokenType.L_PAREN, "(", partition))
            i += 1
            depth = 0
            while i < n:
                kind = tokens[i].token_type
                if depth == 0 and kind in (TokenType.COMMA, TokenType.R_PAREN):
                    break
                depth += _nesting(kind)
                out.append(tokens[i])
                i += 1
            last = out[-1]
            out.append(_token(TokenType.R_PAREN, ")", last))
        out.append(_token(TokenType.R_PAREN, ")", last))
    return out


def _json_clauses(tokens: list[Token]) -> list[Token]:
    """``JSON_VALUE(j, p RETURNING INT DEFAULT 0 ON EMPTY)`` -> ``CAST(JSON_VALUE(j, p) AS INT)``.

    The stock parser reads none of the clauses Flink's JSON functions end with (``RETURNING
    <type>``, ``... ON EMPTY``, ``... ON ERROR``, ``WITH ARRAY WRAPPER``, ``NULL ON NULL``).
    The analysis keeps what it needs, the type and the inputs; the job runs the query as the
    user wrote it.
    """
    out: list[Token] = []
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        close = _closing(tokens, i + 1) if token.text.upper() in _JSON_CLAUSE_FUNCTIONS else None
        clauses = _first_clause(tokens, i + 2, close) if close is not None else None
        if close is None or clauses is None:
            out.append(token)
            i += 1
            continue
        call = [token, tokens[i + 1], *_json_clauses(tokens[i + 2 : clauses]), tokens[close]]
        returning = _returned_type(tokens, clauses, close)
        if returning:
            cast = [_token(TokenType.VAR, "CAST", token), _token(TokenType.L_PAREN, "(", token)]
            call = [*cast, *call, _token(TokenType.ALIAS, "AS", token), *returning]
            call.append(_token(TokenType.R_PAREN, ")", tokens[close]))
        out.extend(call)
        i = close + 1
    return out


def _drop_pattern_within(tokens: list[Token]) -> list[Token]:
    """``PATTERN (A B) WITHIN INTERVAL '1' HOUR DEFINE ...`` -> ``PATTERN (A B) DEFINE ...``:
    the stock parser does not read MATCH_RECOGNIZE's time limit, and the analysis needs none."""
    out: list[Token] = []
    i, n = 0, len(tokens)
    while i < n:
        out.append(tokens[i])
        close = _closing(tokens, i + 1) if tokens[i].text.upper() == "PATTERN" else None
        if close is None or close + 1 >= n or tokens[close + 1].text.upper() != "WITHIN":
            i += 1
            continue
        out.extend(tokens[i + 1 : close + 1])
        i = close + 1
        while i < n and tokens[i].text.upper() not in ("DEFINE", "SUBSET"):
            i += 1
    return out


def _nesting(kind: TokenType) -> int:
    """How a token changes the depth of parentheses: 1 opens, -1 closes, 0 neither."""
    return (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)


def _closing(tokens: list[Token], opening: int) -> int | None:
    """The index of the parenthesis that closes ``tokens[opening]``, when that is one."""
    if opening >= len(tokens) or tokens[opening].token_type != TokenType.L_PAREN:
        return None
    depth = 0
    for index in range(opening, len(tokens)):
        kind = tokens[index].token_type
        depth += _nesting(kind)
        if depth == 0:
            return index
    return None


def _first_clause(tokens: list[Token], start: int, end: int) -> int | None:
    """Where the trailing clauses of a JSON call start: a clause word right after an argument,
    outside nested parentheses."""
    depth = 0
    for index in range(start, end):
        kind = tokens[index].token_type
        depth += _nesting(kind)
        if (
            depth == 0
            and tokens[index].text.upper() in _CLAUSE_WORDS
            and tokens[index - 1].token_type in _ARGUMENT_ENDS
        ):
            return index
    return None


def _returned_type(tokens: list[Token], start: int, end: int) -> list[Token]:
    """The type tokens of a ``RETURNING <type>`` clause among the clauses ``start:end``."""
    for index in range(start, end):
        if tokens[index].text.upper() != "RETURNING":
            continue
        stop, depth = index + 1, 0
        while stop < end:
            kind = tokens[stop].token_type
            depth += _nesting(kind)
            if depth == 0 and tokens[stop].text.upper() in _CLAUSE_WORDS:
                break
            stop += 1
        return tokens[index + 1 : stop]
    return []


# Types whose sqlglot spelling is not Flink's.
_FLINK_TYPE_NAMES = {
    exp.DataType.Type.TEXT: "STRING",
    exp.DataType.Type.TIMESTAMPLTZ: "TIMESTAMP_LTZ",
}


def _to_flink_spelling(tree: exp.Expr, dialect: Dialect, opts: dict[str, Any]) -> exp.Expr:
    """Rewrite, in place, the nodes the stock generator would not write as Flink SQL; returns
    the tree (a new one when its root itself was rewritten, e.g. a type or a constructor).

    ``opts`` are the generator's options (e.g. ``identify``), for the parts written here.
    """
    for node in list(tree.walk()):
        new = _flink_node(node, dialect, opts)
        if new is None:
            continue
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def _flink_node(node: exp.Expr, dialect: Dialect, opts: dict[str, Any]) -> exp.Expr | None:
    """What to write instead of ``node``, or None to keep it."""
    if isinstance(node, exp.Anonymous) and (parts := table_argument(node)) is not None:
        table, keys = parts
        text = f"TABLE {dialect.generate(table, copy=False)}"
        if keys:
            rendered = ", ".join(dialect.generate(key) for key in keys)
            text += f" PARTITION BY ({rendered})" if len(keys) > 1 else f" PARTITION BY {rendered}"
        return exp.Var(this=text)
    if isinstance(node, exp.Version):
        node.set("this", exp.Var(this="SYSTEM_TIME"))  # FOR SYSTEM_TIME AS OF, not TIMESTAMP
        return None
    if isinstance(node, exp.RegexpLike):
        # Flink has no REGEXP_LIKE; its REGEXP(string, pattern) is the same test.
        return exp.Anonymous(this="REGEXP", expressions=[node.this, node.expression])
    if isinstance(node, exp.Length):
        return exp.Anonymous(this="CHAR_LENGTH", expressions=[node.this])
    if isinstance(node, exp.StrPosition) and not node.args.get("position"):
        needle, haystack = node.args["substr"], node.this
        return exp.Var(
            this=f"POSITION({dialect.generate(needle, **opts)} IN "
            f"{dialect.generate(haystack, **opts)})"
        )
    if isinstance(node, exp.Array) or (
        isinstance(node, exp.Anonymous) and node.name.upper() == "MAP"
    ):
        items = ", ".join(dialect.generate(e, **opts) for e in node.expressions)
        name = "ARRAY" if isinstance(node, exp.Array) else "MAP"
        return exp.Var(this=f"{name}[{items}]")
    if isinstance(node, exp.CurrentTimestamp) and not node.this:
        return exp.Var(this="CURRENT_TIMESTAMP")  # a niladic function: no ()
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.STRUCT:
        fields = ", ".join(
            f"`{field.name.replace('`', '``')}` {dialect.generate(field.args['kind'])}"
            for field in node.expressions
        )
        return exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=f"ROW<{fields}>")
    if isinstance(node, exp.DataType) and node.this in _FLINK_TYPE_NAMES:
        name = _FLINK_TYPE_NAMES[node.this]
        size = ", ".join(dialect.generate(e) for e in node.expressions)
        return exp.DataType(
            this=exp.DataType.Type.USERDEFINED, kind=f"{name}({size})" if size else name
        )
    return None
