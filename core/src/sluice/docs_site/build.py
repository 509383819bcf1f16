"""From a compiled ``target/`` folder to the files of ``target/docs/``."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Collection, Mapping
from importlib import resources
from pathlib import Path

from sluice.docs_site.catalog import make_catalog, read_manifest
from sluice.docs_site.layout import lay_out
from sluice.docs_site.pages import environment, render_data_js, render_index, render_node

STATIC_FILES = ("site.css", "site.js", "favicon.svg")


def build_site(
    target: Path,
    selected: Collection[str] | None = None,
    redact: Callable[[str], str] | None = None,
) -> Path:
    """Write the site of the project compiled into ``target`` to ``target/docs``; returns the
    index page. ``selected`` limits it to those nodes; ``redact`` masks secrets once more (the
    compiled files are redacted already: this guards against a plugin that forgot)."""
    files = site_files(target, selected)
    if redact is not None:
        files = {name: redact(text) for name, text in files.items()}
    out = target / "docs"
    write_tree(out, files)
    return out / "index.html"


def site_files(target: Path, selected: Collection[str] | None = None) -> dict[str, str]:
    """Every file of the site: relative path -> text."""
    catalog = make_catalog(read_manifest(target), target, selected)
    layout = lay_out(list(catalog.nodes), catalog.edges)
    env = environment()
    files = {
        "index.html": render_index(env, catalog, layout),
        "data.js": render_data_js(catalog),
    }
    for node in catalog.nodes.values():
        files[node.page] = render_node(env, catalog, node)
    static = resources.files("sluice.docs_site").joinpath("static")
    for name in STATIC_FILES:
        files[name] = static.joinpath(name).read_text(encoding="utf-8")
    return files


def write_tree(out: Path, files: Mapping[str, str]) -> None:
    """Make ``out`` hold exactly ``files``: the folder is the site's alone, so pages of nodes
    that left the project (or the selection) are removed with it."""
    if out.exists():
        shutil.rmtree(out)
    for relative, text in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # newline="\n": the same bytes on every platform
        path.write_text(text, encoding="utf-8", newline="\n")
