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
        from sluice import incremental

        unchanged = incremental.unchanged(options.project_dir, options.env, "configured")
        if unchanged is not None:
            counts, written = unchanged
        else:
            session = options.session()
            manifest = session.manifest
            counts, written = _counts(manifest), manifest.write(session.target)
            incremental.remember(options.project_dir, options.env, "configured", session.project.variables.used, counts)
        if options.output == "json":
            click.echo(json.dumps({"manifest": str(written[0]), "files": [str(p) for p in written[1:]],
                                   "unchanged": unchanged is not None}))
            return
        note = " (unchanged since the last compile)" if unchanged is not None else ""
        options.echo(f"compiled {_summary(counts)} into {_relative(written[0], options.project_dir)}{note}")
        for path in written[1:]:
            if options.verbosity >= 1:
                options.echo(f"  {_relative(path, options.project_dir)}")


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


def _online(options: Options, select: tuple[str, ...], exclude: tuple[str, ...], **flags: Any) -> tuple[Any, Any]:
    """A session whose capabilities come from probes, and the run context of the selection."""
    from sluice.runtime import RunContext

    session = options.session(probe=True)
    manifest = session.manifest
    selected = frozenset(_select(manifest, select, exclude))
    context = RunContext(session.project, manifest, session.capabilities, selected,
                         echo=lambda text: options.echo(session.project.redact(text)), **flags)
    return session, context


def _plan_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--prune", is_flag=True, help="Also delete managed resources that left the project.")(fn)
    fn = click.option("--allow-recreate", is_flag=True, help="Allow delete-and-recreate where a change needs it.")(fn)
    return fn


@cli.command()
@common
@selection
@_plan_options
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
def plan(select: tuple[str, ...], exclude: tuple[str, ...], prune: bool, allow_recreate: bool,
         detailed_exitcode: bool, **kwargs: Any) -> None:
    """Show what apply would change in the live systems."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.engine import make_plan, render_plan

        session, context = _online(options, select, exclude, prune=prune, allow_recreate=allow_recreate)
        result = make_plan(session.manager, context)
        if options.output == "json":
            click.echo(session.project.redact(json.dumps(_plan_json(result), indent=2, sort_keys=True, default=str)))
        else:
            click.echo(render_plan(result, session.project.redact))
        if detailed_exitcode and result.actionable:
            sys.exit(2)


def _plan_json(result: Any) -> dict[str, Any]:
    return {
        "changes": [
            {"plugin": c.plugin, "action": c.action, "kind": c.kind, "name": c.name, "node": c.node,
             "destructive": c.destructive, "reason": c.reason,
             "diff": {k: {"live": v[0], "desired": v[1]} for k, v in c.diff.items()},
             "held_back": c in result.held_back}
            for c in result.changes if c.action != "none"
        ],
        "summary": result.counts(),
    }


@cli.command()
@common
@selection
@_plan_options
@click.option("--yes", is_flag=True, help="Confirm apply in a protected environment.")
@click.option("--force", is_flag=True, help="Carry out destructive changes a protected environment refuses.")
@click.option("--threads", default=4, show_default=True, help="Independent nodes applied at once.")
@click.option("--restart-failed", is_flag=True, help="Restart failed tasks and jobs.")
def apply(select: tuple[str, ...], exclude: tuple[str, ...], prune: bool, allow_recreate: bool, yes: bool,
          force: bool, threads: int, restart_failed: bool, **kwargs: Any) -> None:
    """Make the live systems match the project (never prompts)."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.engine import (
            apply_plan,
            check_safety,
            make_plan,
            render_plan,
            write_run_results,
        )
        from sluice.errors import SluiceError

        session, context = _online(options, select, exclude, prune=prune, allow_recreate=allow_recreate,
                                   restart_failed=restart_failed)
        result = make_plan(session.manager, context)
        check_safety(result, context, force)
        if context.protected and result.actionable and not yes:
            options.echo(render_plan(result, session.project.redact))
            raise SluiceError(f"environment '{session.project.env}' is protected",
                              hint="review the plan above and rerun with --yes to apply it")
        if not result.actionable:
            options.echo("No changes: the live systems match the project.")
            write_run_results(session.target, "apply", [], session.project.redact)
            return
        results = apply_plan(session.manager, result, context, threads)
        path = write_run_results(session.target, "apply", results, session.project.redact)
        _finish(options, "apply", [r.status for r in results], path, session.project_dir)


def _finish(options: Options, command: str, statuses: list[str], path: Path, base: Path) -> None:
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    options.echo(f"{command}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" (details in {_relative(path, base)})")
    if "error" in counts or "fail" in counts:
        sys.exit(1)


@cli.command()
@common
@selection
@click.option("--yes", is_flag=True, help="Confirm: destroy never prompts.")
@click.option("--force", is_flag=True, help="Destroy in a protected environment.")
def destroy(select: tuple[str, ...], exclude: tuple[str, ...], yes: bool, force: bool, **kwargs: Any) -> None:
    """Delete every resource sluice manages for the selected nodes."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.engine import (
            apply_plan,
            check_safety,
            make_plan,
            render_plan,
            write_run_results,
        )
        from sluice.errors import SluiceError

        session, context = _online(options, select, exclude, destroy=True)
        result = make_plan(session.manager, context)
        options.echo(render_plan(result, session.project.redact))
        check_safety(result, context, force)
        if result.actionable and not yes:
            raise SluiceError("destroy deletes the resources listed above", hint="rerun with --yes to confirm")
        results = apply_plan(session.manager, result, context)
        path = write_run_results(session.target, "destroy", results, session.project.redact)
        _finish(options, "destroy", [r.status for r in results], path, session.project_dir)


@cli.command()
@common
@selection
def status(select: tuple[str, ...], exclude: tuple[str, ...], **kwargs: Any) -> None:
    """Show the live state of each node: topics, jobs, connectors, consumer lag."""
    options = make_options(**kwargs)
    with user_errors(options):
        session, context = _online(options, select, exclude)
        nodes = [session.manifest.nodes[uid] for uid in sorted(context.selected)]
        artifacts = session.manifest.all_artifacts(set(context.selected))
        items = session.manager.status(nodes, artifacts, context)
        if options.output == "json":
            click.echo(json.dumps([{"node": i.node, "plugin": i.plugin, "resource": i.resource, "state": i.state,
                                    "detail": i.detail} for i in items], indent=2, sort_keys=True, default=str))
            return
        for item in sorted(items, key=lambda i: (i.node, i.plugin, i.resource)):
            detail = ", ".join(f"{k}={v}" for k, v in sorted(item.detail.items()))
            click.echo(session.project.redact(f"{item.node:<40} {item.plugin:<10} {item.resource:<40} {item.state:<10} {detail}".rstrip()))


@cli.command(name="test")
@common
@selection
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path), default=None)
def test_(select: tuple[str, ...], exclude: tuple[str, ...], junit_xml: Path | None, **kwargs: Any) -> None:
    """Run the data tests of the selected nodes against the live data."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.engine import run_tests, write_junit, write_run_results

        session, context = _online(options, select, exclude)
        tests = [uid for uid in session.manifest.graph.topological_order()
                 if uid in context.selected and uid.startswith("test.")]
        results = run_tests(session.manager, tests, context)
        path = write_run_results(session.target, "test", results, session.project.redact)
        if junit_xml is not None:
            write_junit(junit_xml, results, session.project.redact)
        if not results:
            options.echo("no test selected")
            return
        _finish(options, "test", [r.status for r in results], path, session.project_dir)


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
    kinds = ("source", "model", "test", "exposure")
    return ", ".join(f"{counts.get(k, 0)} {k}{'s' if counts.get(k, 0) != 1 else ''}" for k in kinds)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def main() -> None:
    cli(prog_name="sluice")


if __name__ == "__main__":
    main()
