"""The first compile pass: render every model's SQL and resolve every reference to a node.

The graph's edges come from the ``ref()``/``source()`` calls that rendering records, from
sinks' ``from:``, tests' ``model:`` and exposures' ``depends_on``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from sluice.cache import CompileCache, content_key, has_secret
from sluice.errors import Location, ProjectError, SluiceError
from sluice.project import Project
from sluice.render import Rendered, SqlRenderer


def render_references(
    project: Project, cache: CompileCache, errors: list[SluiceError]
) -> tuple[dict[str, Rendered], dict[str, tuple[str, ...]]]:
    """Render every model's SQL and resolve every reference; returns renders and parents."""
    renderer: SqlRenderer | None = None
    models, sources = project.models.keys(), project.sources.keys()
    renders: dict[str, Rendered] = {}
    deps: dict[str, tuple[str, ...]] = {f"source.{name}": () for name in project.sources}
    macros_key = content_key(*(m.text for m in project.macros))

    for name, model in project.models.items():
        uid = f"model.{name}"
        origin = project.origin(uid)
        parents: list[str] = []
        try:
            if model.sql is not None:
                key = content_key(macros_key, model.sql)
                rendered = cache.get(cache.renders, key)
                if rendered is None or not _still_valid(rendered, project, models, sources):
                    if renderer is None:
                        renderer = SqlRenderer(
                            {m.file: m.text for m in project.macros},
                            project.variables,
                            project.vars,
                        )
                    rendered = renderer.render(
                        model.sql,
                        location=origin.sql_location(),
                        models=models,
                        sources=sources,
                        locate=origin.sql_at,
                    )
                    if not has_secret(rendered.sql, project):  # the cache is a file in target/
                        cache.put(cache.renders, key, rendered)
                renders[uid] = rendered
                parents += [f"source.{s}" for s in rendered.sources] + [
                    f"model.{r}" for r in rendered.refs
                ]
            for index, upstream in enumerate(model.from_):
                parents.append(
                    _resolve_name(
                        upstream,
                        project,
                        origin.locate("from", index)
                        if len(model.from_) > 1
                        else origin.locate("from"),
                        f"model '{name}': from",
                    )
                )
            # without a kind to go by, a model needs SQL or an input; with one, the kind decides
            if model.sql is None and not model.from_ and model.materialized is None:
                raise ProjectError(
                    f"model '{name}' has neither sql: nor from:",
                    location=origin.locate("name"),
                    hint="write the query under sql: (or in models/<name>.sql), or name a sink's input with from:",
                )
        except SluiceError as exc:
            errors.append(exc)
        deps[uid] = tuple(dict.fromkeys(parents))

    for name, test in project.tests.items():
        uid = f"test.{name}"
        try:
            deps[uid] = (
                _resolve_name(
                    test.model,
                    project,
                    project.origin(uid).locate("model"),
                    f"test '{name}': model",
                ),
            )
        except SluiceError as exc:
            errors.append(exc)
            deps[uid] = ()

    for name, exposure in project.exposures.items():
        uid = f"exposure.{name}"
        origin = project.origin(uid)
        parents = []
        for index, reference in enumerate(exposure.depends_on):
            location = origin.locate("depends_on", index)
            try:
                parents.append(
                    _resolve_reference(reference, project, location, f"exposure '{name}'")
                )
            except SluiceError as exc:
                errors.append(exc)
        deps[uid] = tuple(dict.fromkeys(parents))
    return renders, deps


def _still_valid(rendered: Rendered, project: Project, models: Any, sources: Any) -> bool:
    return (
        all(r in models for r in rendered.refs)
        and all(s in sources for s in rendered.sources)
        and all(project.vars.get(k, v) == v and k in project.vars for k, v in rendered.vars_used)
        and all(project.variables.values.get(k) == v for k, v in rendered.env_used)
    )


def _resolve_name(name: str, project: Project, location: Location, what: str) -> str:
    if name in project.models:
        return f"model.{name}"
    if name in project.sources:
        return f"source.{name}"

    match = difflib.get_close_matches(name, [*project.models, *project.sources], n=1)
    raise ProjectError(
        f"{what}: no model or source named '{name}'",
        location=location,
        hint=f"did you mean '{match[0]}'?" if match else "run `sluice ls` to see the names",
    )


def _resolve_reference(reference: str, project: Project, location: Location, what: str) -> str:
    """``ref("x")``, ``source("x")`` or a bare name, as written in an exposure's depends_on."""

    match = re.fullmatch(r"\s*(ref|source)\(\s*['\"]([^'\"]+)['\"]\s*\)\s*", reference)
    if match is None:
        return _resolve_name(reference.strip(), project, location, what)
    function, name = match.groups()
    table = project.models if function == "ref" else project.sources
    if name not in table:
        other = "source" if function == "ref" else "ref"
        hint = (
            f'write {other}("{name}")'
            if name in (project.sources if function == "ref" else project.models)
            else None
        )
        raise ProjectError(
            f"{what}: {function}('{name}') names no {'model' if function == 'ref' else 'source'}",
            location=location,
            hint=hint or "run `sluice ls` to see the names",
        )
    return f"{'model' if function == 'ref' else 'source'}.{name}"
