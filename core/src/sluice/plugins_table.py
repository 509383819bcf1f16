"""The table behind ``sluice plugins``: what is installed, configured, reachable, and able."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sluice.errors import SluiceError
from sluice.plugin.manager import PluginManager


def plugin_rows(
    project_dir: Path, env: str | None, *, probe: bool, timeout: float
) -> list[dict[str, Any]]:
    """One row per plugin. Without a project in ``project_dir`` nothing is configured."""
    from sluice.project.loader import PROJECT_FILES, load_project

    manager = PluginManager()
    sections = manager.config_sections()
    runtime: dict[str, Any] = {}
    project_error = None
    if any((project_dir / name).is_file() for name in PROJECT_FILES):
        try:
            runtime = dict(load_project(project_dir, env=env, sections=sections).runtime)
        except SluiceError as exc:
            project_error = exc.message
    reports = {r.plugin: r for r in manager.probe(runtime, timeout)} if probe and runtime else {}
    kinds = manager.materializations()
    rows = []
    for info in manager.plugins:
        own = [s for p, s in sections if p == info.name and s.scope == "runtime"]
        configured = [s.key for s in own if s.key in runtime]
        report = reports.get(info.name)
        row: dict[str, Any] = {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "builtin": info.builtin,
            "sections": [f"runtime.{s.key}" for s in own],
            "configured": bool(configured),
            "materializations": sorted(
                k for k, providers in kinds.providers.items() if info.name in dict(providers)
            ),
            "capabilities": sorted({c for s in own if s.key in runtime for c in s.capabilities}),
            "reachable": None,
            "detail": info.error,
        }
        if report is not None:
            row["reachable"] = report.available
            row["detail"] = report.error or (report.result.detail if report.result else None)
            if report.result is not None:
                row["version_remote"] = report.result.version
                row["capabilities"] = sorted(report.result.capabilities) if report.available else []
        if project_error and row["detail"] is None and own:
            row["detail"] = f"project not loaded: {project_error}"
        rows.append(row)
    return rows


def render_rows(rows: list[dict[str, Any]]) -> str:
    header = ("plugin", "version", "configured", "reachable", "capabilities / kinds")
    table = [header]
    for row in rows:
        reach = {None: "-", True: "yes", False: "no"}[row["reachable"]]
        able = ", ".join(
            row["capabilities"] + [f"materialized: {k}" for k in row["materializations"]]
        )
        table.append(
            (
                row["name"],
                row["version"] or "?",
                "yes" if row["configured"] else "no",
                reach,
                able or "-",
            )
        )
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in table
    ]
    for row in rows:
        if row["detail"]:
            lines.append(f"{row['name']}: {row['detail']}")
    return "\n".join(lines)
