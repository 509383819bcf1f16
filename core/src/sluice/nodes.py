"""The nodes of a compiled project: what the core resolved about each source, model, test and
exposure before plugins compile them."""

from __future__ import annotations

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
