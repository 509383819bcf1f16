"""Static lineage from the project itself: one edge per dependency, with column-level
mappings where the SQL analysis could trace them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sluice.plugin import hookimpl
from sluice.plugin.api import LineageEdge


@hookimpl
def sluice_lineage(manifest: Any, context: Any) -> Sequence[LineageEdge] | None:
    if context is not None:
        return None  # runtime facts come from the plugins that can see the systems
    edges = []
    for uid, node in sorted(manifest.nodes.items()):
        for parent in node.depends_on:
            columns: dict[str, list[str]] = {}
            for column in node.columns:
                sources = [
                    ref[len(parent) + 1 :] for ref in column.lineage if ref.startswith(parent + ".")
                ]
                if sources:
                    columns[column.name] = sources
            edges.append(LineageEdge(parent, uid, "data", columns))
    return edges
