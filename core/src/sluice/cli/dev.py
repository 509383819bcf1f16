"""``sluice dev``: the local stack the installed plugins contribute."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sluice.cli.options import make_options, relative, user_errors


@click.group()
def dev() -> None:
    """Run the local stack the installed plugins contribute (no Docker needed)."""


def _dev_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--debug", is_flag=True, help="Show tracebacks of errors.")(fn)
    return click.option(
        "--project-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Directory whose .sluice/dev/ holds the stack (default: the current one).",
    )(fn)


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
        click.echo(
            f"ready; load the settings with: source {relative(stack.state_dir / 'env', Path.cwd())}"
        )


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
            click.echo(
                f"{state.name:<16} {state.state:<12} {pid:<12} {since}  {state.log}".rstrip()
            )


@dev.command("logs")
@_dev_options
@click.argument("service")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines to print.")
def dev_logs(project_dir: Path | None, debug: bool, service: str, lines: int) -> None:
    """Print the end of a service's log."""
    with user_errors(make_options(project_dir, None, "text", 0, False, False, debug)):
        from sluice.errors import SluiceError

        path = _stack(project_dir).log_path(service)
        if not path.is_file():
            raise SluiceError(
                f"no log for '{service}' at {path}",
                hint="run `sluice dev status` to see the services",
            )
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        click.echo("\n".join(tail))
