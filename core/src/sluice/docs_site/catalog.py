"""What the docs site shows about each node, read from the compiled ``target/`` folder.

The input is ``target/manifest.json`` and the readable artifacts next to it, exactly as
``sluice compile`` wrote them: they are already redacted, so no resolved secret can reach a
page. The output is a :class:`Catalog` of plain values the page templates render.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.errors import DocsError

# the order of the index's groups and of the nodes in a graph layer
KINDS: tuple[str, ...] = ("source", "model", "sink", "test", "exposure")
KIND_TITLES: Mapping[str, str] = {
    "source": "Sources",
    "model": "Models",
    "sink": "Sinks",
    "test": "Tests",
    "exposure": "Exposures",
}


@dataclass(frozen=True)
class ColumnRef:
    """One upstream column that feeds a column: ``node`` is a unique id."""

    node: str
    column: str


@dataclass(frozen=True)
class ColumnView:
    name: str
    type: str | None
    classification: str | None
    description: str | None
    lineage: tuple[ColumnRef, ...]


@dataclass(frozen=True)
class ArtifactView:
    """A compiled artifact as the page shows it: where it lives under target/ and its text."""

    label: str
    language: str  # "sql" or "json": a CSS class, no highlighting
    text: str


@dataclass(frozen=True)
class NodeView:
    uid: str
    name: str
    kind: str  # one of KINDS: a model without an output topic is shown as a sink
    resource_type: str
    page: str  # path of its page, relative to the site's root
    description: str | None
    owner: str | None
    tags: tuple[str, ...]
    file: str
    line: int | None
    materialized: str | None
    plugin: str | None
    topic: str | None
    format: str | None
    sql: str | None
    stateful_constructs: tuple[str, ...]
    columns: tuple[ColumnView, ...]
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    tests: tuple[str, ...]  # tests that check this node
    artifacts: tuple[ArtifactView, ...]
    facts: tuple[tuple[str, str], ...]  # kind-specific key/value rows (test type, url ...)
    assertions: tuple[str, ...]

    @property
    def search_text(self) -> str:
        """What the search box matches: name, kind, description, owner and tags."""
        parts = [self.name, self.kind, self.materialized, self.description, self.owner]
        return " ".join([p for p in parts if p] + list(self.tags)).lower()


@dataclass(frozen=True)
class Catalog:
    project_name: str
    project_version: str | None
    generated_at: str | None
    nodes: Mapping[str, NodeView]  # in the order pages list them
    edges: tuple[tuple[str, str], ...]  # (parent, child), both in ``nodes``

    def by_kind(self) -> list[tuple[str, str, list[NodeView]]]:
        """(kind, title, nodes) for every kind that has nodes, in the order of KINDS."""
        groups = [
            (kind, KIND_TITLES[kind], [n for n in self.nodes.values() if n.kind == kind])
            for kind in KINDS
        ]
        return [group for group in groups if group[2]]


def read_manifest(target: Path) -> dict[str, Any]:
    path = target / "manifest.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocsError(
            f"cannot read {path}: {exc}",
            hint="run sluice compile (or sluice docs generate, which compiles first)",
        ) from exc
    return data


def make_catalog(
    manifest: Mapping[str, Any], target: Path, selected: Collection[str] | None = None
) -> Catalog:
    """The nodes of ``manifest`` (only ``selected`` ones when given), ready to render."""
    raw = manifest["nodes"]
    chosen = set(raw) if selected is None else set(selected) & set(raw)
    parents: Mapping[str, list[str]] = manifest.get("parent_map", {})
    children: Mapping[str, list[str]] = manifest.get("child_map", {})
    shared = _shared_files(raw)
    views = [
        _node_view(raw[uid], parents.get(uid, []), children.get(uid, []), raw, target, shared)
        for uid in sorted(chosen)
    ]
    views.sort(key=lambda v: (KINDS.index(v.kind), v.name, v.uid))
    edges = sorted(
        (parent, child) for child in chosen for parent in parents.get(child, []) if parent in chosen
    )
    metadata = manifest.get("metadata", {})
    return Catalog(
        project_name=str(metadata.get("project_name") or "sluice project"),
        project_version=metadata.get("project_version"),
        generated_at=metadata.get("generated_at"),
        nodes={view.uid: view for view in views},
        edges=tuple(edges),
    )


def page_of(uid: str) -> str:
    # names are identifiers, but a page name must never be able to leave nodes/
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in uid)
    return f"nodes/{safe}.html"


def kind_of(node: Mapping[str, Any]) -> str:
    # a model whose output is not a topic (a connector) is where data leaves: a sink
    if node["resource_type"] == "model" and not node.get("topic"):
        return "sink"
    return str(node["resource_type"])


def _node_view(
    node: Mapping[str, Any],
    parents: Sequence[str],
    children: Sequence[str],
    raw: Mapping[str, Any],
    target: Path,
    shared: Collection[str],
) -> NodeView:
    return NodeView(
        uid=node["unique_id"],
        name=node["name"],
        kind=kind_of(node),
        resource_type=node["resource_type"],
        page=page_of(node["unique_id"]),
        description=node.get("description"),
        owner=node.get("owner"),
        tags=tuple(node.get("tags", ())),
        file=node.get("original_file_path", ""),
        line=node.get("line"),
        materialized=node.get("materialized"),
        plugin=node.get("plugin"),
        topic=node.get("topic"),
        format=node.get("format"),
        sql=node.get("sql"),
        stateful_constructs=tuple(node.get("stateful_constructs", ())),
        columns=tuple(_column_view(c) for c in node.get("columns", ())),
        upstream=tuple(sorted(parents)),
        downstream=tuple(sorted(c for c in children if raw[c]["resource_type"] != "test")),
        tests=tuple(sorted(c for c in children if raw[c]["resource_type"] == "test")),
        artifacts=tuple(_artifact_views(node, target, shared)),
        facts=_facts(node),
        assertions=tuple(_assertion_text(a) for a in node.get("assertions", ())),
    )


def _column_view(column: Mapping[str, Any]) -> ColumnView:
    return ColumnView(
        name=column["name"],
        type=column.get("type"),
        classification=column.get("classification"),
        description=column.get("description"),
        lineage=tuple(_column_ref(entry) for entry in column.get("lineage", ())),
    )


def _column_ref(entry: str) -> ColumnRef:
    # "<unique id>.<column>": a unique id is "<kind>.<name>", so the column follows the 2nd dot
    kind, _, rest = entry.partition(".")
    name, _, column = rest.partition(".")
    return ColumnRef(f"{kind}.{name}", column)


# the manifest keys a page shows as facts of a test or exposure: (key, label)
FACT_KEYS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "test": (("test_type", "type"), ("on_failure", "on failure")),
    "exposure": (("exposure_type", "type"), ("consumer_group", "consumer group"), ("url", "url")),
}


def _facts(node: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    keys = FACT_KEYS.get(node["resource_type"], ())
    return tuple((label, str(node[key])) for key, label in keys if node.get(key) is not None)


def _assertion_text(assertion: Mapping[str, Any]) -> str:
    # an assertion is a one-key mapping {kind: arguments}: "range: {"column": "amount", ...}"
    return "; ".join(
        f"{kind}: {json.dumps(arguments, sort_keys=True, default=str)}"
        for kind, arguments in sorted(assertion.items())
    )


def _shared_files(raw: Mapping[str, Any]) -> set[str]:
    """Artifact files that hold more than one artifact (such as kafka/topics.json)."""
    seen: set[str] = set()
    shared: set[str] = set()
    for node in raw.values():
        for artifact in node.get("artifacts", ()):
            if artifact.get("file"):
                path = f"{artifact['plugin']}/{artifact['file']}"
                (shared if path in seen else seen).add(path)
    return shared


def _artifact_views(
    node: Mapping[str, Any], target: Path, shared: Collection[str]
) -> list[ArtifactView]:
    views = []
    for artifact in node.get("artifacts", ()):
        if not artifact.get("file"):
            continue  # nothing readable was written for it (e.g. a source's topic check)
        relative = f"{artifact['plugin']}/{artifact['file']}"
        language = "sql" if relative.endswith(".sql") else "json"
        text = None if relative in shared else _read(target / relative)
        if text is None:
            # a shared file (or one gone missing): show this node's own entry of it
            text = json.dumps(artifact.get("spec", {}), indent=2, sort_keys=True, default=str)
            label = f"target/{relative} ({artifact['name']})"
            language = "json"
        else:
            label = f"target/{relative}"
        views.append(ArtifactView(label, language, text.rstrip("\n")))
    return views


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
