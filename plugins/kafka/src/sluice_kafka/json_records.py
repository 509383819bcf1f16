"""Decoding JSON records for sample tests: every column (:func:`decode_json`, orjson), or only
the columns the checks read (:class:`JsonColumns`, msgspec, about twice as fast).

Both take a batch of record values (bytes, None for a tombstone) and return the decoded
values and the index -> reason of each record that is not JSON. They judge records alike:
:class:`JsonColumns` hands orjson every record msgspec refuses, and every record that is not
valid UTF-8 (msgspec does not check the strings it skips), so such a record is reported
``not JSON`` with orjson's reason, as by :func:`decode_json`. Two differences remain, both for
values orjson cannot hold in a double or a 64-bit integer:

* a number beyond the double range (``1e999``) in a column no check reads makes the record
  ``not JSON`` for orjson; msgspec skips it without reading it, and the record is checked
  (it is valid JSON: the limit is orjson's). In a column a check reads, it is still an error.
* an integer beyond 64 bits in a column a check reads is read exactly by msgspec, where
  orjson rounds it to the nearest double.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import msgspec
from orjson import loads  # its JSONDecodeError is a ValueError

from sluice_kafka.assertions import MISSING, SKIP

# what msgspec raises for a record it does not decode
_REFUSED = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


def decode_json(raw: Sequence[bytes | None]) -> tuple[list[Any], dict[int, str]]:
    """Every column of each record (a dict), or whatever other JSON value it holds."""
    try:  # the common case: every record decodes, in one tight loop
        return [None if v is None else loads(v) for v in raw], {}
    except ValueError:
        pass
    values: list[Any] = []
    problems: dict[int, str] = {}
    for i, v in enumerate(raw):
        try:
            values.append(None if v is None else loads(v))
        except ValueError as exc:
            values.append(None)
            problems[i] = f"not JSON: {exc}"
    return values, problems


class JsonColumns:
    """Decodes only the named top-level ``columns`` of each record, into a :attr:`row` (a
    msgspec struct, which the cyclic collector does not track) whose columns :meth:`column`
    reads (:data:`~sluice_kafka.assertions.MISSING` where a record lacks one). A record that
    is another JSON value than an object (an array, a string) is returned as that value."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        # fields c0, c1, ... named in JSON after the columns, which need not be identifiers
        fields = [f"c{i}" for i in range(len(self.columns))]
        self.row = msgspec.defstruct(
            "Row",
            [(f, Any, MISSING) for f in fields],
            rename=dict(zip(fields, self.columns, strict=True)),
            gc=False,
        )
        self._readers = {c: attrgetter(f) for c, f in zip(self.columns, fields, strict=True)}
        self._decode = msgspec.json.Decoder(self.row).decode

    def __call__(self, raw: Sequence[bytes | None]) -> tuple[list[Any], dict[int, str]]:
        decode = self._decode
        not_utf8 = _not_utf8(raw)
        if not not_utf8:
            try:  # the common case: every record decodes, in one tight loop
                return [None if v is None else decode(v) for v in raw], {}
            except _REFUSED:
                pass
        values: list[Any] = []
        problems: dict[int, str] = {}
        for i, v in enumerate(raw):
            if v is not None and i not in not_utf8:
                try:
                    values.append(decode(v))
                    continue
                except _REFUSED:
                    pass
            # orjson's verdict on the records msgspec refused or could not judge
            (value,), problem = decode_json([v])
            if problem:
                problems[i] = problem[0]
            values.append(self._row_of(value) if value.__class__ is dict else value)
        return values, problems

    def column(self, rows: Sequence[Any], name: str) -> list[Any]:
        """The values of column ``name`` in ``rows`` (as decoded), :data:`SKIP` for None."""
        read = self._readers[name]
        try:  # rows only, the common case
            return list(map(read, rows))
        except AttributeError:  # and None (a tombstone, a record that is not JSON)
            return [SKIP if r is None else read(r) for r in rows]

    def _row_of(self, record: dict[str, Any]) -> Any:
        return self.row(*[record.get(c, MISSING) for c in self.columns])


def _not_utf8(raw: Sequence[bytes | None]) -> set[int]:
    """The indexes of the values that are not valid UTF-8: usually none, which one pass over
    the whole batch tells (joined by newlines, a valid whole has only valid parts)."""
    try:
        whole = b"\n".join(raw)  # type: ignore[arg-type]
    except TypeError:  # None among them (tombstones)
        whole = b"\n".join([v for v in raw if v is not None])
    if whole.isascii():
        return set()
    try:
        whole.decode()
        return set()
    except UnicodeDecodeError:
        pass
    found = set()
    for i, v in enumerate(raw):
        if v is not None and not v.isascii():
            try:
                v.decode()
            except UnicodeDecodeError:
                found.add(i)
    return found
