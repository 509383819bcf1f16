"""Rendering lineage: a terminal tree, Mermaid, Graphviz dot, or JSON.

Edges several plugins report between the same two nodes are shown once: the first edge's kind
and columns, with the facts (``detail``) of all of them. JSON shows each edge's facts, the tree
the lag a plugin reports on a consuming edge.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sluice.manifest import Manifest
from sluice.plugin.api import LineageEdge

FORMATS = ("tree", "mermaid", "dot", "json")


def render_lineage(
    manifest: Manifest,
    edges: Sequence[LineageEdge],
    selected: set[str],
    fmt: str,
    columns: bool = False,
) -> str:
    # an edge to something outside the project (a plugin's external dataset) stays with its node
    def shown(uid: str) -> bool:
        return uid in selected or uid not in manifest.nodes

    merged = _merged(edges)
    kept = [
        e
        for e in merged
        if shown(e.source) and shown(e.target) and (e.source in selected or e.target in selected)
    ]
    # one step further outside the project: e.g. the application a consumer group belongs to
    outside = {e.target for e in kept if e.target not in manifest.nodes}
    kept += [e for e in merged if e.source in outside and e.target not in manifest.nodes]
    nodes = sorted(selected | {end for e in kept for end in (e.source, e.target)})
    if fmt == "json":
        return json.dumps(_as_json(manifest, nodes, kept, columns), indent=2, sort_keys=True)
    if fmt == "mermaid":
        return _mermaid(manifest, nodes, kept, columns)
    if fmt == "dot":
        return _dot(manifest, nodes, kept, columns)
    return _tree(manifest, nodes, kept, columns)


def _merged(edges: Sequence[LineageEdge]) -> list[LineageEdge]:
    """One edge per (source, target), in the order first seen, with every plugin's facts."""
    merged: dict[tuple[str, str], LineageEdge] = {}
    for edge in edges:
        key = (edge.source, edge.target)
        seen = merged.get(key)
        if seen is None:
            merged[key] = edge
        elif edge.detail:
            merged[key] = replace(seen, detail={**seen.detail, **edge.detail})
    return list(merged.values())


def _label(manifest: Manifest, uid: str) -> str:
    node = manifest.nodes.get(uid)
    if node is None:
        return uid
    kind = node.materialized or node.resource_type
    return f"{node.name} ({kind})"


def _as_json(
    manifest: Manifest, nodes: list[str], edges: list[LineageEdge], columns: bool
) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "unique_id": uid,
                "name": manifest.nodes[uid].name if uid in manifest.nodes else uid,
                "resource_type": manifest.nodes[uid].resource_type
                if uid in manifest.nodes
                else "external",
                "materialized": manifest.nodes[uid].materialized if uid in manifest.nodes else None,
            }
            for uid in nodes
        ],
        "edges": [
            {
                "source": e.source,
                "target": e.target,
                "kind": e.kind,
                **({"columns": {k: list(v) for k, v in e.columns.items()}} if columns else {}),
                **({"detail": dict(e.detail)} if e.detail else {}),
            }
            for e in edges
        ],
    }


def _mermaid_id(uid: str) -> str:
    return uid.replace(".", "__").replace("-", "_")


def _mermaid(manifest: Manifest, nodes: list[str], edges: list[LineageEdge], columns: bool) -> str:
    lines = ["flowchart LR"]
    shapes = {"source": ("[(", ")]"), "exposure": ("{{", "}}"), "test": ("([", "])")}
    for uid in nodes:
        kind = manifest.nodes[uid].resource_type if uid in manifest.nodes else "model"
        left, right = shapes.get(kind, ("[", "]"))
        lines.append(f'    {_mermaid_id(uid)}{left}"{_label(manifest, uid)}"{right}')
    for edge in edges:
        label = ""
        if columns and edge.columns:
            label = (
                "|"
                + ", ".join(f"{k}<-{'+'.join(v)}" for k, v in sorted(edge.columns.items()))
                + "|"
            )
        lines.append(f"    {_mermaid_id(edge.source)} -->{label} {_mermaid_id(edge.target)}")
    return "\n".join(lines)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(manifest: Manifest, nodes: list[str], edges: list[LineageEdge], columns: bool) -> str:
    shapes = {"source": "cylinder", "exposure": "hexagon", "test": "note"}
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for uid in nodes:
        kind = manifest.nodes[uid].resource_type if uid in manifest.nodes else "model"
        lines.append(
            f"  {_dot_quote(uid)} [label={_dot_quote(_label(manifest, uid))}, shape={shapes.get(kind, 'box')}];"
        )
    for edge in edges:
        attrs = ""
        if columns and edge.columns:
            text = "\\n".join(f"{k} <- {', '.join(v)}" for k, v in sorted(edge.columns.items()))
            attrs = f" [label={_dot_quote(text)}]"
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)}{attrs};")
    lines.append("}")
    return "\n".join(lines)


def _tree(manifest: Manifest, nodes: list[str], edges: list[LineageEdge], columns: bool) -> str:
    children: dict[str, list[LineageEdge]] = {}
    has_parent = set()
    for edge in edges:
        children.setdefault(edge.source, []).append(edge)
        has_parent.add(edge.target)
    roots = [uid for uid in nodes if uid not in has_parent]
    lines: list[str] = []
    printed: set[str] = set()
    # iterative depth-first walk; a node reached twice is printed once and then referenced
    stack: list[tuple[str, str, LineageEdge | None, bool]] = [
        (uid, "", None, True) for uid in reversed(roots)
    ]
    while stack:
        uid, prefix, via, last = stack.pop()
        connector = "" if via is None else ("└── " if last else "├── ")
        text = _label(manifest, uid)
        if columns and via is not None and via.columns:
            text += (
                "  ["
                + "; ".join(f"{k} <- {', '.join(v)}" for k, v in sorted(via.columns.items()))
                + "]"
            )
        if via is not None and via.detail.get("lag") is not None:
            text += f"  [lag {via.detail['lag']}]"
        if uid in printed:
            lines.append(f"{prefix}{connector}{text} (see above)")
            continue
        lines.append(f"{prefix}{connector}{text}")
        printed.add(uid)
        child_prefix = prefix if via is None else prefix + ("    " if last else "│   ")
        kids = sorted(children.get(uid, []), key=lambda e: e.target)
        for index in range(len(kids) - 1, -1, -1):
            stack.append((kids[index].target, child_prefix, kids[index], index == len(kids) - 1))
    return "\n".join(lines)
