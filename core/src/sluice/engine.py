"""Plan, apply, status and test: the online half of sluice, driven through plugin hooks.

A plan is a value (a list of changes) computed from the compiled project and the live systems;
apply carries it out node by node in graph order, independent nodes in parallel, and stops the
dependants of a node that failed. Nothing here knows a concrete system.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

from sluice.errors import SluiceError
from sluice.plugin.api import ApplyResult, Change, PlanWarning, TestResult
from sluice.plugin.manager import PluginManager
from sluice.resolve import CONTINUOUS
from sluice.runtime import RunContext, Watch

SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}


@dataclass(frozen=True)
class Plan:
    """The changes that would make the live systems match the project, and what the plugins
    warned of on the way (warnings change nothing and are never counted as changes)."""

    changes: tuple[Change, ...]
    prune: bool = False
    warnings: tuple[PlanWarning, ...] = ()

    @property
    def actionable(self) -> list[Change]:
        """The changes apply will carry out (orphan deletes only with --prune)."""
        return [
            c for c in self.changes if c.action != "none" and (c.node is not None or self.prune)
        ]

    @property
    def held_back(self) -> list[Change]:
        return [
            c for c in self.changes if c.action == "delete" and c.node is None and not self.prune
        ]

    def destructive(self) -> list[Change]:
        return [c for c in self.actionable if c.destructive or c.action in ("delete", "replace")]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("create", "update", "replace", "delete"), 0)
        for change in self.actionable:
            counts[change.action] += 1
        return counts


def make_plan(manager: PluginManager, context: RunContext) -> Plan:
    artifacts = context.manifest.all_artifacts(set(context.selected))
    changes, warnings = manager.plan_with_warnings(artifacts, context)
    order = {uid: i for i, uid in enumerate(context.manifest.graph.topological_order())}

    def position(change: Change) -> tuple[int, int, str, str, str]:
        stage = -change.stage if change.action == "delete" else change.stage
        return (
            order.get(change.node or "", len(order)),
            stage,
            change.plugin,
            change.kind,
            change.name,
        )

    ordered = sorted(changes, key=position)
    told = sorted(warnings, key=lambda w: (order.get(w.node or "", len(order)), w.plugin))
    return Plan(tuple(ordered), prune=context.prune or context.destroy, warnings=tuple(told))


def render_plan(plan: Plan, redact: Any) -> str:
    lines = []
    for change in plan.changes:
        if change.action == "none":
            continue
        held = change in plan.held_back
        note = "  (left the project; pass --prune to delete)" if held else ""
        reason = f"  # {change.reason}" if change.reason else ""
        lines.append(
            f"{SYMBOLS[change.action]} {change.action} {change.kind} {change.name} ({change.plugin}){reason}{note}"
        )
        for key, (live, desired) in sorted(change.diff.items()):
            lines.append(f"    {key}: {_show(live)} -> {_show(desired)}")
    lines += [f"warning: {w.message}" for w in plan.warnings]
    counts = plan.counts()
    summary = ", ".join(f"{n} to {action}" for action, n in counts.items())
    if not plan.actionable:
        lines.append("No changes: the live systems match the project.")
    lines.append(f"Plan: {summary}.")
    return redact("\n".join(lines))


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True, default=str)


def check_safety(plan: Plan, context: RunContext, force: bool) -> None:
    """Refuse destructive changes in a protected environment unless forced (before any apply)."""
    risky = plan.destructive()
    if risky and not context.project.environment.destructive_allowed and not force:
        names = ", ".join(f"{c.action} {c.kind} {c.name}" for c in risky[:5])
        raise SluiceError(
            f"environment '{context.project.env}' refuses destructive changes: {names}",
            hint="review the plan; pass --force to carry them out anyway",
        )


class ApplyWatcher(Protocol):
    """Hears, in the thread that runs apply, when a node's changes begin and how they ended
    (``node`` is None for a resource that left the project, one change at a time).

    ``sluice apply --openlineage-url`` emits OpenLineage events through one; a watcher must
    not raise.
    """

    def started(self, node: str | None, changes: Sequence[Change]) -> None: ...

    def finished(self, node: str | None, results: Sequence[ApplyResult]) -> None: ...


class _Unwatched:
    def started(self, node: str | None, changes: Sequence[Change]) -> None:
        pass

    def finished(self, node: str | None, results: Sequence[ApplyResult]) -> None:
        pass


def apply_plan(
    manager: PluginManager,
    plan: Plan,
    context: RunContext,
    threads: int = 4,
    watcher: ApplyWatcher | None = None,
) -> list[ApplyResult]:
    """Carry out ``plan`` in graph order; dependants of a failed node are skipped.

    Plugins hear of the run before the first change (where they take their locks) and after
    the last one, whatever happened in between; ``watcher`` hears of each node's changes.
    """
    manager.apply_started(context)
    results: list[ApplyResult] = []
    try:
        _apply_in_order(manager, plan, context, threads, results, watcher or _Unwatched())
    finally:
        manager.apply_finished(context, results)
    return results


def _apply_in_order(
    manager: PluginManager,
    plan: Plan,
    context: RunContext,
    threads: int,
    results: list[ApplyResult],
    watcher: ApplyWatcher,
) -> None:
    by_node: dict[str, list[Change]] = {}
    orphans: list[Change] = []
    for change in plan.actionable:
        if change.node is None:
            orphans.append(change)
        else:
            by_node.setdefault(change.node, []).append(change)
    graph = context.manifest.graph
    deleting = context.destroy
    layers = graph.generations()
    # a node waits on its parents; when deleting, on its children (dependants go first)
    upstream = graph.children if deleting else graph.parents
    if deleting:
        layers = list(reversed(layers))
    failed: dict[str, str] = {}  # node -> the node whose failure stopped it
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="sluice-apply") as pool:
        for layer in layers:
            runnable = []
            for uid in layer:
                culprit = next((failed[u] for u in upstream(uid) if u in failed), None)
                if culprit is None:
                    if uid in by_node:
                        runnable.append(uid)
                    continue
                failed[uid] = culprit  # passes the failure on, changes or not
                if uid in by_node:
                    results += [
                        ApplyResult(c, "skipped", f"skipped: {culprit} failed")
                        for c in by_node[uid]
                    ]
                    context.echo(f"skip    {uid} (because {culprit} failed)")
            for uid in runnable:
                watcher.started(uid, by_node[uid])
            before = len(results)
            for uid in _apply_layer(
                manager, pool, {u: by_node[u] for u in runnable}, context, results
            ):
                failed[uid] = uid
            for uid in runnable:
                watcher.finished(uid, [r for r in results[before:] if r.change.node == uid])
    for change in orphans:
        watcher.started(None, [change])
        results.append(_apply_one(manager, change, context))
        watcher.finished(None, results[-1:])


def _step(change: Change) -> int:
    """Storage, then processing, then delivery; deletes the other way round."""
    return -change.stage if change.action == "delete" else change.stage


def _apply_layer(
    manager: PluginManager,
    pool: ThreadPoolExecutor,
    work: Mapping[str, Sequence[Change]],
    context: RunContext,
    results: list[ApplyResult],
) -> list[str]:
    """Apply the changes of one graph layer, step by step; returns the nodes that failed.

    Each step's changes go to their plugin as one batch when it takes batches
    (``sluice_apply_batch``), else one by one in parallel. A node whose change failed has its
    later changes skipped.
    """
    broken: dict[str, Change] = {}
    for step in sorted({_step(c) for changes in work.values() for c in changes}):
        todo: dict[str, list[Change]] = {}
        for uid, changes in work.items():
            for change in (c for c in changes if _step(c) == step):
                if uid in broken:
                    why = f"skipped: {broken[uid].kind} {broken[uid].name} failed"
                    results.append(ApplyResult(change, "skipped", why))
                else:
                    todo.setdefault(change.plugin, []).append(change)
        for plugin, changes in todo.items():
            for result in _apply_group(manager, pool, plugin, changes, context):
                results.append(result)
                if result.status == "error" and result.change.node:
                    broken.setdefault(result.change.node, result.change)
    return list(broken)


def _apply_group(
    manager: PluginManager,
    pool: ThreadPoolExecutor,
    plugin: str,
    changes: Sequence[Change],
    context: RunContext,
) -> list[ApplyResult]:
    if len(changes) > 1:
        started = time.monotonic()
        context.echo(f"applying {len(changes)} changes of {plugin} at once ...")
        try:
            batch = manager.apply_batch(plugin, changes, context)
        except SluiceError as exc:
            batch = [ApplyResult(c, "error", exc.render()) for c in changes]
        if batch is not None:
            for result in batch:
                _echo_result(context, result, time.monotonic() - started)
            return batch
    return list(pool.map(lambda change: _apply_one(manager, change, context), changes))


def _apply_one(manager: PluginManager, change: Change, context: RunContext) -> ApplyResult:
    started = time.monotonic()
    context.echo(f"{change.action:<7} {change.kind} {change.name} ...")
    try:
        result = manager.apply(change, context)
    except SluiceError as exc:
        result = ApplyResult(change, "error", exc.render())
    seconds = round(time.monotonic() - started, 3)
    result = ApplyResult(result.change, result.status, result.message, seconds)
    _echo_result(context, result, seconds)
    return result


def _echo_result(context: RunContext, result: ApplyResult, seconds: float) -> None:
    change = result.change
    word = {"success": "done", "error": "FAILED", "skipped": "skipped"}[result.status]
    detail = f": {result.message}" if result.message and result.status != "success" else ""
    context.echo(f"{word:<7} {change.kind} {change.name} ({seconds:.1f}s){detail}")


def write_run_results(
    target: Path, command: str, results: Iterable[ApplyResult | TestResult], redact: Any
) -> Path:
    rows: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, ApplyResult):
            c = r.change
            rows.append(
                {
                    "node": c.node,
                    "plugin": c.plugin,
                    "action": c.action,
                    "kind": c.kind,
                    "name": c.name,
                    "status": r.status,
                    "message": r.message,
                    "seconds": r.seconds,
                }
            )
        else:
            rows.append(
                {
                    "node": r.test,
                    "status": r.status,
                    "message": r.message,
                    "failures": r.failures,
                    "details": list(r.details),
                }
            )
    data = {
        "command": command,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": rows,
    }
    target.mkdir(parents=True, exist_ok=True)
    path = target / "run_results.json"
    path.write_text(
        redact(json.dumps(data, indent=2, sort_keys=True, default=str)) + "\n", encoding="utf-8"
    )
    return path


def run_tests(
    manager: PluginManager, tests: Sequence[str], context: RunContext
) -> list[TestResult]:
    """Run ``tests`` one after the other and echo each result."""
    return [_run_test(manager, uid, context) for uid in tests]


def watch_tests(
    manager: PluginManager, tests: Sequence[str], context: RunContext, seconds: float
) -> list[TestResult]:
    """Run ``tests`` (continuous tests) in process, all at once, for ``seconds``: each plugin
    run reads the records arriving meanwhile (see :class:`~sluice.runtime.Watch`). Ctrl-C ends
    the watch early; every test then reports what it found so far."""
    watch = Watch(seconds)
    watching = replace(context, watch=watch)
    with ThreadPoolExecutor(max_workers=len(tests), thread_name_prefix="sluice-watch") as pool:
        running = [pool.submit(_run_test, manager, uid, watching) for uid in tests]
        try:
            wait(running)
        except KeyboardInterrupt:  # a second Ctrl-C while they finish ends the command
            watch.stop.set()
            context.echo(f"watch ended by Ctrl-C after {watch.elapsed():.1f}s; results so far:")
            wait(running)
    return [future.result() for future in running]


def _run_test(manager: PluginManager, uid: str, context: RunContext) -> TestResult:
    """One test's result (a warning when it failed with ``on_failure: warn``), echoed."""
    node = context.manifest.nodes[uid]
    started = time.monotonic()
    try:
        result = _unrunnable(manager, node, context) or manager.run_test(node, context)
    except SluiceError as exc:
        result = TestResult(uid, "error", exc.render())
    if result is None:
        kinds = manager.test_types()
        result = TestResult(
            uid,
            "error",
            f"no loaded plugin runs tests of type '{node.spec.type}'"
            + (f" (available: {', '.join(sorted(kinds))})" if kinds else ""),
        )
    if result.status == "fail" and node.spec.on_failure == "warn":
        result = TestResult(result.test, "warn", result.message, result.failures, result.details)
    context.echo(
        f"{result.status.upper():<5} {node.name} ({time.monotonic() - started:.1f}s){': ' + result.message if result.message else ''}"
    )
    return result


def _unrunnable(manager: PluginManager, node: Any, context: RunContext) -> TestResult | None:
    """A continuous test compiled without a stream job (no plugin provides stream_jobs) runs
    only in process, with ``--watch``: without it, an error that says so."""
    watching = getattr(context, "watch", None) is not None
    if getattr(node.spec, "type", None) != CONTINUOUS or node.topic is not None or watching:
        return None
    hint = context.capabilities.missing_hint("stream_jobs", manager.config_sections())
    return TestResult(
        node.unique_id,
        "error",
        "a continuous test runs as a stream job, and no plugin provides stream_jobs here: "
        f"run `sluice test --watch 30s` to check the records arriving for 30s in process, "
        f"or {hint}",
    )


def write_junit(path: Path, results: Sequence[TestResult], redact: Any) -> None:
    failures = sum(r.status == "fail" for r in results)
    errors = sum(r.status == "error" for r in results)
    cases = []
    for r in results:
        name = quoteattr(r.test)
        body = ""
        if r.status == "fail":
            body = f"<failure message={quoteattr(r.message)}>{escape(r.message)}</failure>"
        elif r.status == "error":
            body = f"<error message={quoteattr(r.message)}>{escape(r.message)}</error>"
        elif r.status == "skipped":
            body = "<skipped/>"
        cases.append(f'  <testcase classname="sluice" name={name}>{body}</testcase>')
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuite name="sluice" tests="{len(results)}" failures="{failures}" errors="{errors}">\n'
        + "\n".join(cases)
        + "\n</testsuite>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(xml), encoding="utf-8")
