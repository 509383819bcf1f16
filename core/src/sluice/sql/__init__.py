"""Parse and analyse one model's Flink SQL.

``analyze_query(sql, upstream)`` parses the rendered SQL of a model with the sqlglot dialect
``"flink"`` (see :mod:`sluice.sql.dialect`) and reports its input relations, its output columns
with their types and lineage, and whether it keeps state or emits updates.
"""

from sluice.sql.analysis import (
    Call,
    ColumnRef,
    OutputColumn,
    SqlAnalysis,
    analyze_query,
    parse,
    type_kind,
)
from sluice.sql.dialect import WINDOW_TVFS, Flink, table_argument
from sluice.sql.errors import SqlAnalysisError, SqlSyntaxError

__all__ = [
    "WINDOW_TVFS",
    "Call",
    "ColumnRef",
    "Flink",
    "OutputColumn",
    "SqlAnalysis",
    "SqlAnalysisError",
    "SqlSyntaxError",
    "analyze_query",
    "parse",
    "table_argument",
    "type_kind",
]
