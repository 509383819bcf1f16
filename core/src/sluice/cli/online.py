"""Commands that talk to the live systems: plan, apply, destroy, status, test."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sluice.cli.options import (
    Options,
    common,
    make_options,
    online_session,
    relative,
    selection,
    user_errors,
)


def _plan_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--prune", is_flag=True, help="Also delete managed resources that left the project."
    )(fn)
    fn = click.option(
        "--allow-recreate", is_flag=True, help="Allow delete-and-recreate where a change needs it."
    )(fn)
    return fn


@click.command()
@common
@selection
@_plan_options
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
def plan(
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    prune: bool,
    allow_recreate: bool,
    detailed_exitcode: bool,
    **kwargs: Any,
) -> None:
    """Show what apply would change in the live systems."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.engine import make_plan, render_plan

        session, context = online_session(
            options, select, exclude, prune=prune, allow_recreate=allow_recreate
        )
        result = make_plan(session.manager, context)
        if options.output == "json":
            click.echo(
                session.project.redact(
                    json.dumps(_plan_json(result), indent=2, sort_keys=True, default=str)
                )
            )
        else:
            click.echo(render_plan(result, session.project.redact))
        if detailed_exitcode and result.actionable:
            sys.exit(2)


def _plan_json(result: Any) -> dict[str, Any]:
    return {
        "changes": [
            {
                "plugin": c.plugin,
                "action": c.action,
                "kind": c.kind,
                "name": c.name,
                "node": c.node,
                "destructive": c.destructive,
                "reason": c.reason,
                "diff": {k: {"live": v[0], "desired": v[1]} for k, v in c.diff.items()},
                "held_back": c in result.held_back,
            }
            for c in result.changes
            if c.action != "none"
        ],
        "warnings": [
            {"plugin": w.plugin, "node": w.node, "message": w.message} for w in result.warnings
        ],
        "summary": result.counts(),
    }


@click.command()
@common
@selection
@_plan_options
@click.option("--yes", is_flag=True, help="Confirm apply in a protected environment.")
@click.option(
    "--force", is_flag=True, help="Carry out destructive changes a protected environment refuses."
)
@click.option("--threads", default=4, show_default=True, help="Independent nodes applied at once.")
@click.option("--restart-failed", is_flag=True, help="Restart failed tasks and jobs.")
@click.option(
    "--openlineage-url",
    envvar="OPENLINEAGE_URL",
    default=None,
    help="Send OpenLineage events of the jobs apply touches to this receiver (e.g. Marquez).",
)
def apply(
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    prune: bool,
    allow_recreate: bool,
    yes: bool,
    force: bool,
    threads: int,
    restart_failed: bool,
    openlineage_url: str | None,
    **kwargs: Any,
) -> None:
    """Make the live systems match the project (never prompts)."""
    options = make_options(**kwargs)
    with user_errors(options):
        receiver = None
        if openlineage_url:
            from sluice.openlineage.receiver import Receiver

            receiver = Receiver(openlineage_url)  # a bad URL fails here, before anything changes
        session, context = online_session(
            options,
            select,
            exclude,
            prune=prune,
            allow_recreate=allow_recreate,
            restart_failed=restart_failed,
        )
        watcher = _lineage_watcher(options, session, receiver) if receiver else None
        try:
            _carry_out(
                options,
                session,
                context,
                "apply",
                yes=yes,
                force=force,
                threads=threads,
                watcher=watcher,
            )
        finally:
            if receiver is not None:
                receiver.close()


def _lineage_watcher(options: Options, session: Any, receiver: Any) -> Any:
    """What emits OpenLineage events as apply goes; a failure to send is a warning."""
    from sluice.openlineage.apply_events import ApplyLineage
    from sluice.openlineage.events import ProjectJobs

    manifest = session.manifest
    jobs = ProjectJobs(manifest, session.manager.lineage(manifest, None))
    return ApplyLineage(
        jobs,
        receiver,
        session.project.redact,
        warn=lambda text: options.echo(options.style("warning: ", fg="yellow") + text, err=True),
    )


@click.command()
@common
@selection
@click.option("--yes", is_flag=True, help="Confirm: destroy never prompts.")
@click.option("--force", is_flag=True, help="Destroy in a protected environment.")
def destroy(
    select: tuple[str, ...], exclude: tuple[str, ...], yes: bool, force: bool, **kwargs: Any
) -> None:
    """Delete every resource sluice manages for the selected nodes."""
    options = make_options(**kwargs)
    with user_errors(options):
        session, context = online_session(options, select, exclude, destroy=True)
        _carry_out(options, session, context, "destroy", yes=yes, force=force, threads=4)


def _carry_out(
    options: Options,
    session: Any,
    context: Any,
    command: str,
    *,
    yes: bool,
    force: bool,
    threads: int,
    watcher: Any = None,
) -> None:
    """Plan, check safety and confirmation, apply, and write the run results.

    apply needs --yes only in a protected environment; destroy always does (it never prompts).
    """
    from sluice.engine import apply_plan, check_safety, make_plan, render_plan, write_run_results
    from sluice.errors import SluiceError

    redact = session.project.redact
    result = make_plan(session.manager, context)
    for warning in result.warnings:
        options.echo(options.style("warning: ", fg="yellow") + redact(warning.message), err=True)
    check_safety(result, context, force)
    if not result.actionable:
        path = write_run_results(session.target, command, [], redact)
        if options.output == "json":
            click.echo(path.read_text(encoding="utf-8"), nl=False)
        else:
            options.echo("No changes: the live systems match the project.")
        return
    if not yes and (command == "destroy" or context.protected):
        options.echo(render_plan(result, redact))
        if command == "destroy":
            raise SluiceError(
                "destroy deletes the resources listed above", hint="rerun with --yes to confirm"
            )
        raise SluiceError(
            f"environment '{session.project.env}' is protected",
            hint="review the plan above and rerun with --yes to apply it",
        )
    results = apply_plan(session.manager, result, context, threads, watcher)
    path = write_run_results(session.target, command, results, redact)
    _finish(options, command, [r.status for r in results], path, session.project_dir)


def _finish(options: Options, command: str, statuses: list[str], path: Path, base: Path) -> None:
    """Sum up the results (with --output json: the run results themselves); exit 1 when any
    errored or (for tests) failed."""
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    if options.output == "json":
        click.echo(path.read_text(encoding="utf-8"), nl=False)
    else:
        details = f" (details in {relative(path, base)})"
        options.echo(f"{command}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + details)
    if "error" in counts or "fail" in counts:
        sys.exit(1)


@click.command()
@common
@selection
def status(select: tuple[str, ...], exclude: tuple[str, ...], **kwargs: Any) -> None:
    """Show the live state of each node: topics, jobs, connectors, consumer lag."""
    options = make_options(**kwargs)
    with user_errors(options):
        session, context = online_session(options, select, exclude)
        nodes = [session.manifest.nodes[uid] for uid in sorted(context.selected)]
        artifacts = session.manifest.all_artifacts(set(context.selected))
        items = session.manager.status(nodes, artifacts, context)
        if options.output == "json":
            click.echo(
                json.dumps(
                    [
                        {
                            "node": i.node,
                            "plugin": i.plugin,
                            "resource": i.resource,
                            "state": i.state,
                            "detail": i.detail,
                        }
                        for i in items
                    ],
                    indent=2,
                    sort_keys=True,
                    default=str,
                )
            )
            return
        rows = [
            (
                i.node,
                i.plugin,
                i.resource,
                i.state,
                ", ".join(f"{k}={v}" for k, v in sorted(i.detail.items())),
            )
            for i in sorted(items, key=lambda i: (i.node, i.plugin, i.resource))
        ]
        # columns as wide as their longest cell, so long job names never shift the others
        widths = [max((len(row[n]) for row in rows), default=0) for n in range(4)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo(session.project.redact("  ".join([*cells, row[4]]).rstrip()))


def _watch_seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from sluice.project.schema import parse_duration_ms

    try:
        milliseconds = parse_duration_ms(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if milliseconds <= 0:
        raise click.BadParameter("give a duration above zero, e.g. 30s")
    return milliseconds / 1000


@click.command(name="test")
@common
@selection
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the results to this file as JUnit XML.",
)
@click.option(
    "--watch",
    metavar="DURATION",
    default=None,
    callback=_watch_seconds,
    help="Check continuous tests in process, all at once: read the records that arrive in "
    "their topics for DURATION (e.g. 30s), then report (Ctrl-C ends early). Without Flink this "
    "is how continuous tests run; with Flink it checks in process too.",
)
def test_(
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    junit_xml: Path | None,
    watch: float | None,
    **kwargs: Any,
) -> None:
    """Run the data tests of the selected nodes against the live data."""
    options = make_options(**kwargs)
    with user_errors(options):
        from sluice.engine import run_tests, watch_tests, write_junit, write_run_results
        from sluice.resolve import CONTINUOUS

        session, context = online_session(options, select, exclude)
        nodes = session.manifest.nodes
        tests = [
            uid
            for uid in session.manifest.graph.topological_order()
            if uid in context.selected and uid.startswith("test.")
        ]
        watched = [u for u in tests if nodes[u].spec.type == CONTINUOUS] if watch else []
        results = run_tests(session.manager, [u for u in tests if u not in watched], context)
        if watched and watch is not None:
            results += watch_tests(session.manager, watched, context, watch)
        path = write_run_results(session.target, "test", results, session.project.redact)
        if junit_xml is not None:
            write_junit(junit_xml, results, session.project.redact)
        if not results and options.output != "json":
            options.echo("no test selected")
            return
        _finish(options, "test", [r.status for r in results], path, session.project_dir)
