"""What every sluice command shares: options, error rendering, and small helpers."""

from __future__ import annotations

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

    def progress(self, text: str) -> None:
        """A line of a command's progress: on stderr when stdout carries JSON (--output json),
        so that stays one JSON document; nothing with --quiet."""
        if self.verbosity >= 0:
            click.echo(text, err=self.output == "json", color=self.color)

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
        click.echo(
            options.style("error: ", fg="red", bold=True) + exc.render(),
            err=True,
            color=options.color,
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit:
        raise
    except Exception as exc:  # a bug: say so plainly, the traceback is one flag away
        if options.debug:
            traceback.print_exc()
        if isinstance(exc, OSError) and exc.filename:  # the file system said no: not a bug
            click.echo(
                f"error: {exc.filename}: {exc.strerror or exc}\n"
                "  hint: check that the path exists and that sluice may read and write it",
                err=True,
            )
            sys.exit(1)
        click.echo(
            f"error: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: this is a bug in sluice or a plugin; rerun with --debug and report the traceback",
            err=True,
        )
        sys.exit(1)


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every project command takes."""
    decorators = [
        click.option(
            "--project-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Project directory (default: the current one).",
        ),
        click.option(
            "--env",
            "env",
            default=None,
            envvar="SLUICE_ENV",
            help="Environment (environments/<env>.yml).",
        ),
        click.option(
            "--output", type=click.Choice(["text", "json"]), default="text", help="Output format."
        ),
        click.option("-v", "--verbose", count=True, help="More output."),
        click.option("-q", "--quiet", is_flag=True, help="Only errors."),
        click.option("--no-color", is_flag=True, help="No colours."),
        click.option("--debug", is_flag=True, help="Show tracebacks of errors."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def selection(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--exclude", "exclude", multiple=True, help="Nodes to leave out (same grammar)."
    )(fn)
    return click.option(
        "-s", "--select", "select", multiple=True, help="Nodes to act on (dbt selection grammar)."
    )(fn)


def make_options(
    project_dir: Path | None,
    env: str | None,
    output: str,
    verbose: int,
    quiet: bool,
    no_color: bool,
    debug: bool,
) -> Options:
    color = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    return Options(project_dir or Path.cwd(), env, output, -1 if quiet else verbose, color, debug)


def select_from(manifest: Any, select: tuple[str, ...], exclude: tuple[str, ...]) -> set[str]:
    from sluice.selection import select_nodes

    return select_nodes(manifest.graph, manifest.facts(), select, exclude)


def count_nodes(manifest: Any) -> dict[str, int]:
    counts = {"source": 0, "model": 0, "test": 0, "exposure": 0}
    for node in manifest.nodes.values():
        counts[node.resource_type] += 1
    return counts


def summary(counts: dict[str, int]) -> str:
    kinds = ("source", "model", "test", "exposure")
    return ", ".join(f"{counts.get(k, 0)} {k}{'s' if counts.get(k, 0) != 1 else ''}" for k in kinds)


def relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def online_session(
    options: Options, select: tuple[str, ...], exclude: tuple[str, ...], **flags: Any
) -> tuple[Any, Any]:
    """A session whose capabilities come from probes, and the run context of the selection."""
    from sluice.runtime import RunContext

    session = options.session(probe=True)
    manifest = session.manifest
    selected = frozenset(select_from(manifest, select, exclude))
    context = RunContext(
        session.project,
        manifest,
        session.capabilities,
        selected,
        echo=lambda text: options.progress(session.project.redact(text)),
        **flags,
    )
    return session, context
