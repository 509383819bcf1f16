"""Rendering the site's files: the HTML pages (Jinja, autoescaped) and ``data.js``."""

from __future__ import annotations

import json
from typing import Any

import jinja2

from sluice import __version__
from sluice.docs_site.catalog import KIND_TITLES, Catalog, NodeView
from sluice.docs_site.layout import NODE_HEIGHT, NODE_WIDTH, Layout

# what fits on a graph node at the stylesheet's font size; the full name is in its tooltip
LABEL_CHARS = 26


def environment() -> jinja2.Environment:
    # autoescape everything: names, descriptions and SQL come from the project, not from us
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sluice.docs_site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_index(env: jinja2.Environment, catalog: Catalog, layout: Layout) -> str:
    return env.get_template("index.html").render(
        _common(catalog, root=""),
        groups=catalog.by_kind(),
        layout=layout,
        node_width=NODE_WIDTH,
        node_height=NODE_HEIGHT,
        label_chars=LABEL_CHARS,
    )


def render_node(env: jinja2.Environment, catalog: Catalog, node: NodeView) -> str:
    return env.get_template("node.html").render(
        _common(catalog, root="../"), node=node, kind_title=KIND_TITLES[node.kind]
    )


def render_data_js(catalog: Catalog) -> str:
    """``window.SLUICE_DOCS = {...}``: what the search needs, loadable from file:// too (a
    script tag works where fetch() of a JSON file is refused)."""
    data = {
        "project": catalog.project_name,
        "nodes": [
            {
                "uid": n.uid,
                "name": n.name,
                "kind": n.kind,
                "page": n.page,
                "description": n.description,
                "owner": n.owner,
                "tags": list(n.tags),
                "search": n.search_text,
            }
            for n in catalog.nodes.values()
        ],
        "edges": [list(edge) for edge in catalog.edges],
    }
    return f"window.SLUICE_DOCS = {script_json(data)};\n"


def script_json(value: Any) -> str:
    """JSON that is safe inside a script: no '<', '>' or '&' can end it or open a tag."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, indent=1)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _common(catalog: Catalog, root: str) -> dict[str, Any]:
    return {"catalog": catalog, "root": root, "sluice_version": __version__}
