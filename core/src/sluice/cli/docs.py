"""``sluice docs``: the project's static documentation site."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sluice.cli.options import (
    CONTEXT,
    Options,
    common,
    make_options,
    relative,
    select_from,
    selection,
    user_errors,
)


@click.group(context_settings=CONTEXT)
def docs() -> None:
    """Browse the project: a static site with every node, its columns and the lineage graph."""


def _generate(options: Options, select: tuple[str, ...], exclude: tuple[str, ...]) -> Path:
    """Compile (writing target/ as `sluice compile` does), then build target/docs."""
    from sluice.docs_site import build_site

    session = options.session()
    session.write_target()
    manifest = session.manifest
    chosen = select_from(manifest, select, exclude) if select or exclude else None
    return build_site(session.target, chosen, redact=session.project.redact)


@docs.command("generate")
@common
@selection
def generate(select: tuple[str, ...], exclude: tuple[str, ...], **kwargs: Any) -> None:
    """Compile the project and write the docs site to target/docs/ (works offline)."""
    options = make_options(**kwargs)
    with user_errors(options):
        index = _generate(options, select, exclude)
        if options.output == "json":
            click.echo(json.dumps({"index": str(index), "site": str(index.parent)}))
            return
        options.echo(f"wrote the docs site to {relative(index, options.project_dir)}")
        options.echo("open it in a browser, or run: sluice docs serve")


@docs.command("serve")
@common
@click.option("--port", default=8080, show_default=True, help="Port to listen on (0: any free).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--generate/--no-generate",
    default=True,
    help="Generate the site before serving (default), or serve the one already there.",
)
def serve(port: int, host: str, generate: bool, **kwargs: Any) -> None:
    """Serve target/docs/ over HTTP until Ctrl-C."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.docs_site.serve import make_server, serve_until_interrupted

        site = options.project_dir / "target" / "docs"
        if generate:
            site = _generate(options, (), ()).parent
        server = make_server(site, host, port)
        # click.echo flushes, so whoever reads our output sees the URL at once
        serve_until_interrupted(server, lambda text: click.echo(text))
