"""Compiling a project: render, build the graph, analyse SQL, resolve materializations, check
capabilities and governance, and let plugins compile each node into artifacts.

The result is a :class:`sluice.manifest.Manifest`; nothing here talks to a remote system.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from sluice import sql as sqlmod
from sluice.capabilities import Capabilities
from sluice.errors import Location, ProjectError, ProjectErrors, SluiceError
from sluice.governance import check_governance
from sluice.graph import CycleError, Graph
from sluice.manifest import Manifest
from sluice.materialization import check_needs, infer_kind, resolve_kind
from sluice.nodes import ColumnInfo, Node
from sluice.plugin.api import Artifact, ConfigSection, Materialization
from sluice.plugin.manager import PluginManager
from sluice.project import Project
from sluice.project.schema import Model, parse_duration_ms
from sluice.render import Rendered, SqlRenderer

# the data-test types of the project format; plugins may add more (``sluice_test_types``)
STANDARD_TEST_TYPES = ("schema", "sample", "continuous")


@dataclass
class CompileCache:
    """Parsed results reused across compiles, keyed by content hashes.

    ``prune`` drops what the last compile did not use, so the cache never outgrows the project.
    """

    layout: int = 2  # bumped whenever the cached values change shape
    yaml: dict[str, Any] = field(default_factory=dict)
    renders: dict[str, Rendered] = field(default_factory=dict)
    analyses: dict[str, Any] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def get(self, table: dict[str, Any], key: str) -> Any:
        self.used.add(key)
        return table.get(key)

    def put(self, table: dict[str, Any], key: str, value: Any) -> None:
        self.used.add(key)
        table[key] = value

    def prune(self, yaml_keys: set[str]) -> None:
        self.yaml = {k: v for k, v in self.yaml.items() if k in yaml_keys}
        self.renders = {k: v for k, v in self.renders.items() if k in self.used}
        self.analyses = {k: v for k, v in self.analyses.items() if k in self.used}
        self.used = set()


@dataclass(frozen=True)
class CompileContext:
    """What a plugin sees while it compiles a node."""

    project: Project
    nodes: Mapping[str, Node]
    capabilities: Capabilities
    artifacts: Mapping[str, Sequence[Artifact]]  # artifacts of nodes compiled so far

    @property
    def runtime(self) -> Mapping[str, BaseModel]:
        return self.project.runtime

    def upstream(self, node: Node) -> list[Node]:
        return [self.nodes[uid] for uid in node.depends_on]

    def location(self, node: Node, *keys: str | int) -> Location:
        return self.project.origin(node.unique_id).locate(*keys)


def compile_project(
    project: Project,
    manager: PluginManager,
    capabilities: Capabilities,
    *,
    sections: Sequence[tuple[str, ConfigSection]] | None = None,
    cache: CompileCache | None = None,
) -> Manifest:
    """Compile ``project`` into a manifest; all user errors of a stage are raised together."""
    cache = cache or CompileCache()
    sections = manager.config_sections() if sections is None else sections
    kinds = manager.materializations()
    test_types = manager.test_types() if project.tests else {}
    errors: list[SluiceError] = []

    renders, deps = _render_all(project, cache, errors)
    # env_var() may have read secrets while rendering: mask them in every output too
    for secret in project.variables.secrets:
        project.redact.add(secret)
    _raise(errors)
    graph = Graph(
        deps.keys(), [(parent, child) for child, parents in deps.items() for parent in parents]
    )
    cycle = graph.find_cycle()
    if cycle:
        raise CycleError(cycle, location=project.origin(cycle[0]).locate("name"))

    nodes: dict[str, Node] = {}
    failed: set[str] = set()
    for uid in graph.topological_order():
        if any(parent in failed for parent in deps[uid]):
            failed.add(uid)
            continue
        try:
            nodes[uid] = _resolve_node(
                uid,
                project,
                renders,
                deps[uid],
                nodes,
                kinds,
                capabilities,
                sections,
                cache,
                test_types,
            )
        except ProjectErrors as exc:
            errors.extend(exc.errors)
            failed.add(uid)
        except SluiceError as exc:
            errors.append(exc)
            failed.add(uid)
    _raise(errors)

    partitions = {
        uid: _partitions(project, node.spec)
        for uid, node in nodes.items()
        if node.resource_type == "model" and node.topic
    }
    errors.extend(check_governance(project, nodes, partitions))
    _raise(errors)

    artifacts: dict[str, list[Artifact]] = {}
    context = CompileContext(project, nodes, capabilities, artifacts)
    for uid in graph.topological_order():
        node = nodes[uid]
        try:
            artifacts[uid] = manager.compile_node(node, context) + manager.secure_node(
                node, context
            )
        except SluiceError as exc:
            errors.append(exc)
    _raise(errors)
    return Manifest(
        project=project, graph=graph, nodes=nodes, artifacts=artifacts, capabilities=capabilities
    )


def _raise(errors: list[SluiceError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ProjectErrors(errors)


def _sha(*parts: str) -> str:
    digest = hashlib.sha1()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _render_all(
    project: Project, cache: CompileCache, errors: list[SluiceError]
) -> tuple[dict[str, Rendered], dict[str, tuple[str, ...]]]:
    """Render every model's SQL and resolve every reference; returns renders and parents."""
    renderer: SqlRenderer | None = None
    models, sources = project.models.keys(), project.sources.keys()
    renders: dict[str, Rendered] = {}
    deps: dict[str, tuple[str, ...]] = {f"source.{name}": () for name in project.sources}
    macros_key = _sha(*(m.text for m in project.macros))

    for name, model in project.models.items():
        uid = f"model.{name}"
        origin = project.origin(uid)
        parents: list[str] = []
        try:
            if model.sql is not None:
                key = _sha(macros_key, model.sql)
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
                    if not _has_secret(rendered.sql, project):  # the cache is a file in target/
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
            if model.sql is None and not model.from_:
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


def _has_secret(text: str, project: Project) -> bool:
    return any(secret in text for secret in project.variables.secrets if secret)


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
    import difflib

    match = difflib.get_close_matches(name, [*project.models, *project.sources], n=1)
    raise ProjectError(
        f"{what}: no model or source named '{name}'",
        location=location,
        hint=f"did you mean '{match[0]}'?" if match else "run `sluice ls` to see the names",
    )


def _resolve_reference(reference: str, project: Project, location: Location, what: str) -> str:
    """``ref("x")``, ``source("x")`` or a bare name, as written in an exposure's depends_on."""
    import re

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


def _partitions(project: Project, model: Model) -> int | None:
    if model.topic and model.topic.partitions:
        return model.topic.partitions
    return project.defaults.topic.partitions


def _resolve_node(
    uid: str,
    project: Project,
    renders: Mapping[str, Rendered],
    parents: tuple[str, ...],
    nodes: Mapping[str, Node],
    kinds: Mapping[str, tuple[str, Materialization]],
    capabilities: Capabilities,
    sections: Sequence[tuple[str, ConfigSection]],
    cache: CompileCache,
    test_types: Mapping[str, Any],
) -> Node:
    kind, _, name = uid.partition(".")
    origin = project.origin(uid)
    line = origin.locate().line
    if kind == "source":
        source = project.sources[name]
        columns = tuple(
            ColumnInfo(c.name, c.type, c.description, c.classification) for c in source.columns
        )
        event_time = None
        if source.event_time:
            event_time = (source.event_time.column, parse_duration_ms(source.event_time.watermark))
        return Node(
            uid,
            name,
            kind,
            source,
            origin.file,
            line,
            (),
            source.tags,
            columns=columns,
            topic=source.topic,
            format=source.format,
            event_time=event_time,
            key=tuple(source.key),
        )
    if kind == "test":
        test = project.tests[name]
        known = {*STANDARD_TEST_TYPES, *test_types}
        if test.type not in known:
            match = difflib.get_close_matches(test.type, sorted(known), n=1)
            raise ProjectError(
                f"test '{name}': unknown test type '{test.type}'",
                location=origin.locate("type"),
                hint=f"did you mean '{match[0]}'?"
                if match
                else "test types: " + ", ".join(sorted(known)),
            )
        return Node(uid, name, kind, test, origin.file, line, parents, test.tags)
    if kind == "exposure":
        exposure = project.exposures[name]
        return Node(uid, name, kind, exposure, origin.file, line, parents, exposure.tags)

    model = project.models[name]
    rendered = renders.get(uid)
    analysis = None
    if rendered is not None:
        locate = _sql_locator(origin, model.sql or "", rendered.sql)
        own_cache = CompileCache() if _has_secret(rendered.sql, project) else cache
        analysis = _analyse(rendered.sql, parents, nodes, locate, own_cache)
    node = Node(
        uid,
        name,
        kind,
        model,
        origin.file,
        line,
        parents,
        model.tags,
        sql=rendered.sql if rendered else None,
        analysis=analysis,
    )
    location = origin.locate("materialized") if model.materialized else origin.locate("name")
    found = resolve_kind(model, location, kinds)
    if found is None:
        materialized = infer_kind(
            model, analysis.stateful if analysis else None, kinds, capabilities, node
        )
        if materialized not in kinds:
            raise _no_inferred_kind(model, materialized, analysis, location)
        plugin, definition = kinds[materialized]
    else:
        plugin, definition = found
        materialized = definition.name
    check_needs(model, materialized, definition, capabilities, sections, kinds, location, node)
    _check_masking(model, capabilities, sections, origin.locate("mask", key=True))

    columns = _columns(model, analysis, parents, nodes, origin)
    topic = None
    if definition.output_topic:
        topic = model.topic.name if model.topic and model.topic.name else name
    upstream_format = nodes[parents[0]].format if parents else None
    upstream = [nodes[p] for p in parents]
    updating = (analysis is not None and analysis.updating) or any(u.updating for u in upstream)
    return replace(
        node,
        materialized=materialized,
        plugin=plugin,
        columns=columns,
        topic=topic,
        format=model.format or upstream_format or "json",
        updating=updating,
        event_time=_event_time(model, columns, upstream),
        key=_key(model, analysis, columns, upstream, updating, origin),
    )


def _event_time(
    model: Model, columns: Sequence[ColumnInfo], upstream: Sequence[Node]
) -> tuple[str, int] | None:
    """A declared event time, else the input's when this model passes its time column on
    unchanged (same name and type), so windows work downstream of a filter."""
    if model.event_time is not None:
        return model.event_time.column, parse_duration_ms(model.event_time.watermark)
    mine = {c.name: c for c in columns}
    for parent in upstream:
        if parent.event_time is None:
            continue
        column, _ = parent.event_time
        own, theirs = mine.get(column), parent.column(column)
        if (
            own
            and theirs
            and own.lineage == (f"{parent.unique_id}.{column}",)
            and own.type == theirs.type
        ):
            return parent.event_time
    return None


def _key(
    model: Model,
    analysis: Any,
    columns: Sequence[ColumnInfo],
    upstream: Sequence[Node],
    updating: bool,
    origin: Any,
) -> tuple[str, ...]:
    """The columns that identify a row: declared, else the GROUP BY columns, else an updating
    input's key when this model passes those columns through unchanged."""
    produced = {c.name for c in columns}
    for index, column in enumerate(model.key):
        if column not in produced:
            match = difflib.get_close_matches(column, list(produced), n=1)
            raise ProjectError(
                f"model '{model.name}': key column '{column}' is not an output column",
                location=origin.locate("key", index)
                if len(model.key) > 1
                else origin.locate("key"),
                hint=f"did you mean '{match[0]}'?"
                if match
                else "output columns: " + ", ".join(sorted(produced)),
            )
    if model.key:
        return tuple(model.key)
    if not updating:
        return ()
    if analysis is not None and analysis.group_key:
        return tuple(analysis.group_key)
    for parent in upstream:
        if not parent.updating or not parent.key:
            continue
        mine = [
            next((c.name for c in columns if c.lineage == (f"{parent.unique_id}.{k}",)), None)
            for k in parent.key
        ]
        if all(mine):
            return tuple(name for name in mine if name)
    return ()


def _no_inferred_kind(model: Model, kind: str, analysis: Any, location: Location) -> SluiceError:
    from sluice.materialization import KNOWN_KINDS

    if kind == "sink":
        why = "it has from: and no SQL"
    elif analysis is not None and analysis.stateful:
        why = f"its SQL is stateful ({', '.join(analysis.stateful_constructs)})"
    else:
        why = "its SQL is stateless"
    dist = KNOWN_KINDS.get(kind)
    return ProjectError(
        f"model '{model.name}': {why}, so it is materialized as {kind}, and no installed plugin provides {kind}",
        location=location,
        hint=f"pip install {dist}"
        if dist
        else "install a plugin that provides it, or set materialized:",
    )


def _sql_locator(origin: Any, template: str, rendered: str) -> Any:
    """Maps a line/column of the rendered SQL to the file position of the template text.

    Rendering replaces ``{{ ref("x") }}`` by a shorter identifier, so a column after it is
    counted back from the end of the line, where template and rendered text agree again.
    """
    template_lines, rendered_lines = template.splitlines(), rendered.splitlines()

    def locate(line: int | None, column: int | None) -> Location:
        line = line or 1
        same_shape = len(template_lines) == len(rendered_lines) >= line
        if column is not None and same_shape:
            column = _template_column(template_lines[line - 1], rendered_lines[line - 1], column)
        return origin.sql_at(line, column)

    return locate


def _template_column(template: str, rendered: str, column: int) -> int:
    if template == rendered:
        return column
    prefix = 0
    while prefix < min(len(template), len(rendered)) and template[prefix] == rendered[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(template), len(rendered)) - prefix
        and template[-1 - suffix] == rendered[-1 - suffix]
    ):
        suffix += 1
    if column - 1 < prefix:
        return column
    if column - 1 >= len(rendered) - suffix:
        return len(template) - (len(rendered) - column)
    return prefix + 1  # inside what Jinja produced: point at the template expression


def _analyse(
    sql: str, parents: Sequence[str], nodes: Mapping[str, Node], locate: Any, cache: CompileCache
) -> Any:
    upstream = {nodes[p].name: [(c.name, c.type) for c in nodes[p].columns] for p in parents}
    key = _sha(sql, repr(sorted(upstream.items())))
    cached = cache.get(cache.analyses, key)
    if cached is not None:
        return cached
    try:
        analysis = sqlmod.analyze_query(sql, upstream)
    except sqlmod.SqlSyntaxError as exc:
        raise ProjectError(
            f"SQL syntax error: {exc.message}",
            location=locate(exc.line, exc.column),
            hint="check the statement near this position (Flink SQL)",
        ) from None
    except sqlmod.SqlAnalysisError as exc:
        raise ProjectError(
            exc.message, location=locate(exc.line, exc.column), hint=exc.hint
        ) from None
    cache.put(cache.analyses, key, analysis)
    return analysis


def _columns(
    model: Model, analysis: Any, parents: Sequence[str], nodes: Mapping[str, Node], origin: Any
) -> tuple[ColumnInfo, ...]:
    declared = {c.name: c for c in model.columns}
    if analysis is not None:
        by_relation = {nodes[p].name: p for p in parents}
        produced = [
            ColumnInfo(
                c.name,
                declared[c.name].type if c.name in declared and declared[c.name].type else c.type,
                declared[c.name].description if c.name in declared else None,
                declared[c.name].classification if c.name in declared else None,
                tuple(f"{by_relation.get(r.relation, r.relation)}.{r.column}" for r in c.lineage),
            )
            for c in analysis.columns
        ]
    else:  # a sink passes its inputs' columns through
        produced = [
            ColumnInfo(c.name, c.type, c.description, c.classification, (f"{p}.{c.name}",))
            for p in parents
            for c in nodes[p].columns
        ]
        produced = [c for c in produced if c.name not in declared] + [
            ColumnInfo(d.name, d.type, d.description, d.classification) for d in model.columns
        ]
    names = {c.name for c in produced}
    for index, column in enumerate(model.columns):
        if column.name not in names:
            import difflib

            match = difflib.get_close_matches(column.name, list(names), n=1)
            raise ProjectError(
                f"model '{model.name}': column '{column.name}' is declared but the query does not produce it",
                location=origin.locate("columns", index),
                hint=f"did you mean '{match[0]}'?"
                if match
                else "produced columns: " + ", ".join(sorted(names)),
            )
    for masked in model.mask:
        if masked not in names:
            raise ProjectError(
                f"model '{model.name}': mask names column '{masked}', which the model does not produce",
                location=origin.locate("mask", masked, key=True),
                hint="mask columns of the model's own output",
            )
    return tuple(produced)


def _check_masking(
    model: Model,
    capabilities: Capabilities,
    sections: Sequence[tuple[str, ConfigSection]],
    location: Location,
) -> None:
    """DESIGN §3: masking with no Gateway is an error unless a masked copy is asked for."""
    if not model.mask or "masking" in capabilities or model.mask_fallback == "materialize":
        return
    from sluice.errors import CapabilityError

    raise CapabilityError(
        f"model '{model.name}' declares mask: but no {capabilities.mode} plugin provides the "
        "capability 'masking'",
        location=location,
        hint=capabilities.missing_hint("masking", sections)
        + "; or set mask_fallback: materialize to publish a masked copy with a Flink job",
    )
