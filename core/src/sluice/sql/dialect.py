"""A sqlglot dialect for Apache Flink SQL, registered under the name ``"flink"``.

sqlglot has no Flink dialect, and none of its dialects accepts Flink's table arguments
(``TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)``). The base dialect already parses
almost everything else Flink uses (``FOR SYSTEM_TIME AS OF``, OVER windows, ``UNNEST``,
``LATERAL TABLE(...)``, CTEs), so this dialect starts from it and changes only:

* the tokenizer: backticks quote identifiers, and ``MATCH_RECOGNIZE`` is a keyword;
* the parser: ``TABLE <name> [PARTITION BY ...]`` is accepted as a function argument, and a
  call whose arity does not fit a sqlglot built-in of the same name is kept as a plain call
  (Flink user functions often share names with built-ins of other engines);
* the generator: Flink's spelling of a few types and of temporal joins.

Once this module is imported, ``sqlglot.parse_one(sql, read="flink")`` works.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.generator import Generator
from sqlglot.parser import Parser
from sqlglot.tokens import Tokenizer, TokenType

__all__ = ["Flink", "TableArgument", "WINDOW_TVFS"]

#: The window table-valued functions of Flink, by upper-case name.
WINDOW_TVFS: frozenset[str] = frozenset({"TUMBLE", "HOP", "CUMULATE", "SESSION"})


class TableArgument(exp.Expression):
    """A table passed to a table function: ``TABLE t`` or ``TABLE t PARTITION BY k``.

    ``this`` is the :class:`sqlglot.exp.Table`; ``partition_by`` the optional key expressions
    (Flink's ``SESSION`` window TVF partitions its input that way).
    """

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "partition_by": False}


class Flink(Dialect):
    """Apache Flink SQL (Calcite based): backtick identifiers, window TVFs, MATCH_RECOGNIZE."""

    # Flink identifiers are case sensitive and kept as written.
    NORMALIZATION_STRATEGY = Dialect.NORMALIZATION_STRATEGY.CASE_SENSITIVE

    class Tokenizer(Tokenizer):
        IDENTIFIERS: ClassVar[list[str | tuple[str, str]]] = ["`"]
        QUOTES: ClassVar[list[str | tuple[str, str]]] = ["'"]
        KEYWORDS: ClassVar[dict[str, TokenType]] = {
            **Tokenizer.KEYWORDS,
            # The base tokenizer reads MATCH_RECOGNIZE as a name, so `t MATCH_RECOGNIZE (...)`
            # would alias the table instead of starting the clause.
            "MATCH_RECOGNIZE": TokenType.MATCH_RECOGNIZE,
        }

    class Parser(Parser):
        # SESSION is a keyword (ALTER SESSION) to sqlglot, but also a window TVF to Flink.
        FUNC_TOKENS: ClassVar[set[TokenType]] = {*Parser.FUNC_TOKENS, TokenType.SESSION}

        def _parse_primary(self) -> exp.Expr | None:
            # `TABLE t` is how Flink passes a table to a TVF. `TABLE(` is left alone: it is the
            # `FROM TABLE(f(...))` wrapper, which the base parser already reads as a call.
            curr, nxt = self._curr, self._next
            if (
                curr is not None
                and curr.token_type == TokenType.TABLE
                and nxt is not None
                and nxt.token_type in (TokenType.VAR, TokenType.IDENTIFIER)
            ):
                self._advance()
                table = self._parse_table_parts()
                partition = self._parse_partition_by()
                return self.expression(TableArgument(this=table, partition_by=partition or None))
            return super()._parse_primary()

        def validate_expression(self, expression: Any, args: list | None = None) -> Any:
            # Only function calls pass `args`. A call that does not fit the built-in of the
            # same name (e.g. a user table function `split(s)` vs sqlglot's two-argument SPLIT)
            # is a user function to Flink: keep it as an anonymous call instead of failing.
            if (
                args is not None
                and isinstance(expression, exp.Func)
                and expression.error_messages(args)
            ):
                name = type(expression).sql_names()[0]
                return exp.Anonymous(this=name, expressions=list(args))
            return super().validate_expression(expression, args)

    class Generator(Generator):
        TYPE_MAPPING: ClassVar[dict[exp.DataType.Type, str]] = {
            **Generator.TYPE_MAPPING,
            exp.DataType.Type.TEXT: "STRING",
            exp.DataType.Type.TIMESTAMPLTZ: "TIMESTAMP_LTZ",
            exp.DataType.Type.VARBINARY: "VARBINARY",
        }

        def version_sql(self, expression: exp.Version) -> str:
            # Flink only has the SQL:2011 spelling of a temporal join.
            return f"FOR SYSTEM_TIME {expression.text('kind')} {self.sql(expression, 'expression')}"

        TRANSFORMS: ClassVar[dict[type[exp.Expr], Any]] = {
            **Generator.TRANSFORMS,
            TableArgument: lambda self, e: _table_argument_sql(self, e),
        }


def _table_argument_sql(generator: Generator, expression: TableArgument) -> str:
    partition = generator.expressions(expression, key="partition_by", flat=True)
    text = f"TABLE {generator.sql(expression, 'this')}"
    return f"{text} PARTITION BY {partition}" if partition else text
