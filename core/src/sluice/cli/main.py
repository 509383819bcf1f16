"""The ``sluice`` command line (Click).

Heavy modules (pydantic, sqlglot, the plugins) are imported inside the commands, so that
``sluice --help`` answers at once.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sluice.session import Session

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Options:
    project_dir: Path
    env: str | None
    output: str
    verbosity: int
    color: bool
    debug: bool

    def session(self, probe: bool = False) -> Session:
        from sluice.session import Session

        return Session(self.project_dir, self.env, probe=probe)

    def echo(self, text: str = "", err: bool = False) -> None:
        if self.verbosity >= 0 or err:
            click.echo(text, err=err, color=self.color)

    def style(self, text: str, **styles: Any) -> str:
        return click.style(text, **styles) if self.color else text


@contextmanager
def user_errors(options: Options) -> Iterator[None]:
    """Render sluice errors for people; never show a traceback unless --debug."""
    from sluice.errors import SluiceError

    try:
        yield
    except SluiceError as exc:
        if options.debug:
            traceback.print_exc()
        click.echo(options.style("error: ", fg="red", bold=True) + exc.render(), err=True, color=options.color)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit:
        raise
    except Exception as exc:  # a bug: say so plainly, the traceback is one flag away
        if options.debug:
            traceback.print_exc()
        click.echo(
            f"error: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: this is a bug in sluice or a plugin; rerun with --debug and report the traceback",
            err=True,
        )
        sys.exit(1)


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every project command takes."""
    decorators = [
        click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Project directory (default: the current one)."),
        click.option("--env", "env", default=None, envvar="SLUICE_ENV", help="Environment (environments/<env>.yml)."),
        click.option("--output", type=click.Choice(["text", "json"]), default="text", help="Output format."),
        click.option("-v", "--verbose", count=True, help="More output."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors."),
        click.option("--no-color", is_flag=True, help="No colours."),
        click.option("--debug", is_flag=True, help="Show tracebacks of errors."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def selection(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--exclude", "exclude", multiple=True, help="Nodes to leave out (same grammar).")(fn)
    return click.option("-s", "--select", "select", multiple=True, help="Nodes to act on (dbt selection grammar).")(fn)


def make_options(project_dir: Path | None, env: str | None, output: str, verbose: int, quiet: bool,
                 no_color: bool, debug: bool) -> Options:
    color = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    return Options(project_dir or Path.cwd(), env, output, -1 if quiet else verbose, color, debug)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="sluice-core", prog_name="sluice")
def cli() -> None:
    """sluice: declarative streaming pipelines for Kafka, Flink and Connect."""


@cli.command()
@common
def validate(**kwargs: Any) -> None:
    """Check the project: format, references, SQL, capabilities and governance."""
    options = make_options(**kwargs)
    with user_errors(options):
        session = options.session()
        manifest = session.manifest
        counts = _counts(manifest)
        if options.output == "json":
            click.echo(json.dumps({"valid": True, "nodes": counts}))
        else:
            options.echo(options.style("ok", fg="green") + f": {_summary(counts)} are valid")


@cli.command(name="compile")
@common
def compile_(**kwargs: Any) -> None:
    """Compile the project into target/manifest.json and per-plugin artifacts."""
    options = make_options(**kwargs)
    with user_errors(options):
        session = options.session()
        manifest = session.manifest
        written = manifest.write(session.target)
        if options.output == "json":
            click.echo(json.dumps({"manifest": str(written[0]), "files": [str(p) for p in written[1:]]}))
            return
        options.echo(f"compiled {_summary(_counts(manifest))} into {_relative(written[0], session.project_dir)}")
        for path in written[1:]:
            if options.verbosity >= 1:
                options.echo(f"  {_relative(path, session.project_dir)}")


@cli.command(name="ls")
@common
@selection
@click.option("--resource-type", type=click.Choice(["source", "model", "test", "exposure"]), multiple=True)
def ls(select: tuple[str, ...], exclude: tuple[str, ...], resource_type: tuple[str, ...], **kwargs: Any) -> None:
    """List the project's nodes (after --select / --exclude)."""
    options = make_options(**kwargs)
    with user_errors(options):
        manifest = options.session().manifest
        chosen = _select(manifest, select, exclude)
        rows = [manifest.nodes[uid] for uid in manifest.graph.topological_order() if uid in chosen]
        rows = [n for n in rows if not resource_type or n.resource_type in resource_type]
        if options.output == "json":
            click.echo(json.dumps([
                {"unique_id": n.unique_id, "resource_type": n.resource_type, "materialized": n.materialized,
                 "path": n.file, "tags": list(n.tags)} for n in rows], indent=2))
            return
        for node in rows:
            kind = f" ({node.materialized})" if node.materialized else ""
            options.echo(f"{node.unique_id}{kind}")


@cli.command()
@common
@selection
@click.option("--format", "fmt", type=click.Choice(["tree", "mermaid", "dot", "json"]), default="tree")
@click.option("--columns", is_flag=True, help="Show column-level edges.")
def lineage(select: tuple[str, ...], exclude: tuple[str, ...], fmt: str, columns: bool, **kwargs: Any) -> None:
    """Show how data flows: sources -> models -> sinks -> exposures."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.lineage import render_lineage

        session = options.session()
        manifest = session.manifest
        chosen = _select(manifest, select, exclude)
        edges = session.manager.lineage(manifest, None)
        click.echo(render_lineage(manifest, edges, chosen, "json" if options.output == "json" else fmt, columns))


@cli.command()
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


@cli.command()
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
        click.echo(f"\nnext: cd {directory} && sluice dev up && sluice validate")


@cli.group()
def dev() -> None:
    """Run the local stack the installed plugins contribute (no Docker needed)."""


def _dev_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--debug", is_flag=True, help="Show tracebacks of errors.")(fn)
    return click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=None)(fn)


def _stack(project_dir: Path | None) -> Any:
    from sluice.dev import DevStack
    from sluice.plugin.manager import PluginManager

    return DevStack(project_dir or Path.cwd(), PluginManager().dev_services(), echo=click.echo)


@dev.command("up")
@_dev_options
@click.argument("services", nargs=-1)
def dev_up(project_dir: Path | None, debug: bool, services: tuple[str, ...]) -> None:
    """Start the services (all, or the ones named) and write .sluice/dev/env."""
    with user_errors(make_options(project_dir, None, "text", 0, False, False, debug)):
        stack = _stack(project_dir)
        stack.up(services)
        click.echo(f"ready; load the settings with: source {_relative(stack.state_dir / 'env', Path.cwd())}")


@dev.command("down")
@_dev_options
@click.argument("services", nargs=-1)
def dev_down(project_dir: Path | None, debug: bool, services: tuple[str, ...]) -> None:
    """Stop exactly what `sluice dev up` started."""
    with user_errors(make_options(project_dir, None, "text", 0, False, False, debug)):
        stopped = _stack(project_dir).down(services)
        click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@dev.command("status")
@_dev_options
def dev_status(project_dir: Path | None, debug: bool) -> None:
    """Show each service: running or not, pid, since when, log file."""
    with user_errors(make_options(project_dir, None, "text", 0, False, False, debug)):
        states = _stack(project_dir).status()
        if not states:
            click.echo("no installed plugin contributes a dev service")
        for state in states:
            pid = f"pid {state.pid}" if state.pid else ""
            since = f"since {state.started_at}" if state.started_at else ""
            click.echo(f"{state.name:<16} {state.state:<12} {pid:<12} {since}  {state.log}".rstrip())


@dev.command("logs")
@_dev_options
@click.argument("service")
@click.option("-n", "--lines", default=50, show_default=True)
def dev_logs(project_dir: Path | None, debug: bool, service: str, lines: int) -> None:
    """Print the end of a service's log."""
    with user_errors(make_options(project_dir, None, "text", 0, False, False, debug)):
        from sluice.errors import SluiceError

        path = _stack(project_dir).log_path(service)
        if not path.is_file():
            raise SluiceError(f"no log for '{service}' at {path}", hint="run `sluice dev status` to see the services")
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        click.echo("\n".join(tail))


def _select(manifest: Any, select: tuple[str, ...], exclude: tuple[str, ...]) -> set[str]:
    from sluice.selection import select_nodes

    return select_nodes(manifest.graph, manifest.facts(), select, exclude)


def _counts(manifest: Any) -> dict[str, int]:
    counts = {"source": 0, "model": 0, "test": 0, "exposure": 0}
    for node in manifest.nodes.values():
        counts[node.resource_type] += 1
    return counts


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items())


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def main() -> None:
    cli(prog_name="sluice")


if __name__ == "__main__":
    main()
