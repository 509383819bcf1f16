"""The two errors the SQL analysis raises; the compiler turns them into project errors."""

from __future__ import annotations


class SqlSyntaxError(Exception):
    """The SQL does not parse. ``line`` and ``column`` are 1-based, within the given SQL text."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        # All constructor arguments go to Exception.args so the error pickles (pytest-xdist,
        # process pools) and compares by value.
        super().__init__(message, line, column)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return self.message


class SqlAnalysisError(Exception):
    """The SQL parses but is wrong for its inputs (an unknown column, a nameless expression)."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, line, column, hint)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint

    def __str__(self) -> str:
        return self.message
