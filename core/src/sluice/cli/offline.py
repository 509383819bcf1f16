"""Commands that work on the project alone: validate, compile, ls, lineage, plugins, init."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sluice.cli.options import (
    Options,
    common,
    count_nodes,
    make_options,
    online_session,
    relative,
    select_from,
    selection,
    summary,
    user_errors,
)


@click.command()
@common
def validate(**kwargs: Any) -> None:
    """Check the project: format, references, SQL, capabilities and governance."""
    options = make_options(**kwargs)
    with user_errors(options):
        session = options.session()
        manifest = session.manifest
        counts = count_nodes(manifest)
        if options.output == "json":
            click.echo(json.dumps({"valid": True, "nodes": counts}))
        else:
            options.echo(options.style("ok", fg="green") + f": {summary(counts)} are valid")


@click.command(name="compile")
@common
def compile_(**kwargs: Any) -> None:
    """Compile the project into target/manifest.json and per-plugin artifacts."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice import incremental

        unchanged = incremental.unchanged(options.project_dir, options.env, "configured")
        if unchanged is not None:
            counts, written = unchanged
        else:
            session = options.session()
            written = session.write_target()
            counts = count_nodes(session.manifest)
            incremental.remember(
                options.project_dir,
                options.env,
                "configured",
                session.project.variables.used,
                counts,
            )
        if options.output == "json":
            click.echo(
                json.dumps(
                    {
                        "manifest": str(written[0]),
                        "files": [str(p) for p in written[1:]],
                        "unchanged": unchanged is not None,
                    }
                )
            )
            return
        note = " (unchanged since the last compile)" if unchanged is not None else ""
        options.echo(
            f"compiled {summary(counts)} into {relative(written[0], options.project_dir)}{note}"
        )
        for path in written[1:]:
            if options.verbosity >= 1:
                options.echo(f"  {relative(path, options.project_dir)}")


@click.command(name="ls")
@common
@selection
@click.option(
    "--resource-type",
    type=click.Choice(["source", "model", "test", "exposure"]),
    multiple=True,
    help="Only nodes of this type.",
)
def ls(
    select: tuple[str, ...], exclude: tuple[str, ...], resource_type: tuple[str, ...], **kwargs: Any
) -> None:
    """List the project's nodes (after --select / --exclude)."""
    options = make_options(**kwargs)
    with user_errors(options):
        manifest = options.session().manifest
        chosen = select_from(manifest, select, exclude)
        rows = [manifest.nodes[uid] for uid in manifest.graph.topological_order() if uid in chosen]
        rows = [n for n in rows if not resource_type or n.resource_type in resource_type]
        if options.output == "json":
            click.echo(
                json.dumps(
                    [
                        {
                            "unique_id": n.unique_id,
                            "resource_type": n.resource_type,
                            "materialized": n.materialized,
                            "path": n.file,
                            "tags": list(n.tags),
                        }
                        for n in rows
                    ],
                    indent=2,
                )
            )
            return
        for node in rows:
            kind = f" ({node.materialized})" if node.materialized else ""
            options.echo(f"{node.unique_id}{kind}")


@click.command()
@common
@selection
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "mermaid", "dot", "json", "openlineage"]),
    default=None,
    help="tree (default), mermaid, dot, json, or openlineage (run events, one JSON per line).",
)
@click.option("--columns", is_flag=True, help="Show column-level edges.")
@click.option("--live", is_flag=True, help="Add what the systems report: consumer groups, lag.")
@click.option(
    "--openlineage-url",
    default=None,
    help="Send the OpenLineage events to this receiver (e.g. Marquez) instead of printing them.",
)
def lineage(
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    fmt: str | None,
    columns: bool,
    live: bool,
    openlineage_url: str | None,
    **kwargs: Any,
) -> None:
    """Show how data flows: sources -> models -> sinks -> exposures."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.errors import OpenLineageError
        from sluice.lineage import render_lineage

        if openlineage_url and fmt not in (None, "openlineage"):
            raise OpenLineageError(
                f"--openlineage-url sends OpenLineage events, not the {fmt} format",
                hint="leave out --format, or pass --format openlineage",
            )
        fmt = "openlineage" if openlineage_url else fmt or "tree"
        if live:
            session, context = online_session(options, select, exclude)
            chosen = set(context.selected)
        else:
            session, context = options.session(), None
            chosen = select_from(session.manifest, select, exclude)
        manifest = session.manifest
        edges = session.manager.lineage(manifest, None)
        if fmt == "openlineage":
            _openlineage(options, manifest, edges, chosen, openlineage_url)
            return
        if context is not None:
            edges += session.manager.lineage(manifest, context)
        click.echo(
            render_lineage(
                manifest, edges, chosen, "json" if options.output == "json" else fmt, columns
            )
        )


def _openlineage(
    options: Options, manifest: Any, edges: Any, chosen: set[str], url: str | None
) -> None:
    """Print the selected jobs' OpenLineage events, or send them to ``url``."""
    from sluice.openlineage.events import export_events, to_line
    from sluice.openlineage.receiver import Receiver, shown

    receiver = Receiver(url) if url else None  # a bad URL fails before any event is built
    lines = [to_line(e, manifest.project.redact) for e in export_events(manifest, edges, chosen)]
    if receiver is None:
        for line in lines:
            click.echo(line)
        return
    try:
        for line in lines:
            receiver.send(line)
    finally:
        receiver.close()
    options.echo(f"sent {len(lines)} OpenLineage events to {shown(receiver.endpoint)}")


@click.command()
@common
@click.option("--probe/--no-probe", default=True, help="Contact each configured system (default).")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds each probe may take.")
def plugins(probe: bool, timeout: float, **kwargs: Any) -> None:
    """Installed plugins: version, whether configured, reachable, and their capabilities."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.plugins_table import plugin_rows, render_rows

        rows = plugin_rows(options.project_dir, options.env, probe=probe, timeout=timeout)
        if options.output == "json":
            click.echo(json.dumps(rows, indent=2, sort_keys=True))
        else:
            click.echo(render_rows(rows))


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", default=None, help="Project name (default: the directory's name).")
@click.option("--debug", is_flag=True, hidden=True)
def init(directory: Path, name: str | None, debug: bool) -> None:
    """Create a new project that runs on the local dev stack."""
    options = make_options(directory, None, "text", 0, False, False, debug)
    with user_errors(options):
        from sluice.scaffold import scaffold

        created = scaffold(directory, name)
        for path in created:
            click.echo(f"created {path}")
        click.echo(
            f"\nnext, on the local stack:\n"
            f"  cd {directory}\n"
            "  sluice dev up                       # Kafka and Flink on this machine\n"
            "  set -a; . .sluice/dev/env; set +a   # their addresses\n"
            "  python feed.py                      # creates the source topic, sends orders\n"
            "  sluice apply                        # topics and Flink jobs\n"
            "  sluice test                         # data tests on what arrived"
        )
