"""The nodes of a compiled project: what the core resolved about each source, model, test and
exposure before plugins compile them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sluice.sql import SqlAnalysis


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str | None = None
    description: str | None = None
    classification: str | None = None
    lineage: tuple[str, ...] = ()  # upstream columns as "<unique id>.<column>"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.description:
            data["description"] = self.description
        if self.classification:
            data["classification"] = self.classification
        if self.lineage:
            data["lineage"] = list(self.lineage)
        return data


@dataclass(frozen=True)
class Node:
    """One node of the graph, as the core resolved it.

    ``spec`` is the validated entity (``schema.Source``, ``schema.Model`` ...); ``materialized``
    is the resolved kind and ``plugin`` the plugin that provides it; ``sql`` is the rendered
    SQL and ``analysis`` its parse; ``topic`` is the topic the node's data can be read from.
    """

    unique_id: str
    name: str
    resource_type: str
    spec: Any
    file: str
    line: int | None = None
    depends_on: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    materialized: str | None = None
    plugin: str | None = None
    real_topic: bool = False  # its topic must exist on the brokers (sources: always)
    # the runtime setting (<section>.<key>) with the address its topic is read at, when a proxy
    # serves it rather than the brokers (sluice.runtime.read_bootstrap gives the value)
    served_at: str | None = None
    sql: str | None = None
    analysis: SqlAnalysis | None = field(default=None, compare=False)
    columns: tuple[ColumnInfo, ...] = ()
    topic: str | None = None
    format: str | None = None
    # stream semantics, derived once in graph order so plugins never walk the graph for them:
    updating: bool = False  # the topic is a changelog (upserts/deletes), not append-only
    event_time: tuple[str, int] | None = None  # (column, watermark delay in ms)
    key: tuple[str, ...] = ()  # the columns that identify a row (declared, GROUP BY or inherited)

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)


def column_origins(
    lineage: Iterable[str],
    nodes: Mapping[str, Node],
    stop: Callable[[Node, str], bool] | None = None,
) -> Iterator[tuple[Node, str]]:
    """Every upstream node and column the values of a column come from: its ``lineage``
    (``<unique id>.<column>`` references) followed up the graph, each reached once. A column
    ``stop`` accepts is neither given nor followed further."""
    seen: set[str] = set()
    pending = list(lineage)
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        uid, _, name = ref.rpartition(".")
        node = nodes.get(uid)
        if node is None or (stop is not None and stop(node, name)):
            continue
        yield node, name
        info = node.column(name)
        if info is not None:
            pending.extend(info.lineage)
