"""The second compile pass: what the core works out about each node, in graph order.

For a model: its SQL analysis, its materialization (declared or inferred) and whether the run
can provide it, its output columns with lineage, its topic, and its stream semantics
(updating, event time, key), each derived from its already resolved parents.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sluice import sql as sqlmod
from sluice.cache import CompileCache, content_key, has_secret
from sluice.capabilities import Capabilities
from sluice.errors import CapabilityError, Location, ProjectError, SluiceError
from sluice.hints import distribution_for_kind
from sluice.masking import check_masking, check_no_bypass, fallback_active
from sluice.materialization import check_needs, choose_provider, infer_kind, resolve_kind
from sluice.nodes import ColumnInfo, Node
from sluice.plugin.api import ConfigSection, Materialization
from sluice.project import Project
from sluice.project.schema import Model, parse_duration_ms
from sluice.render import Rendered
from sluice.runtime import read_bootstrap
from sluice.sql import type_kind

# the data-test types of the project format; plugins may add more (``sluice_test_types``)
CONTINUOUS = "continuous"
STANDARD_TEST_TYPES = ("schema", "sample", CONTINUOUS)
# A continuous test runs as a stream job that writes each violating record to a topic sluice
# owns: the test node's topic, created by the plugin that manages topics. Without stream_jobs
# it has no topic and runs only in process, for a bounded time (``sluice test --watch``).
CONTINUOUS_TEST_NEEDS = ("stream_jobs", "topics")
# assertions a continuous test cannot hold: it checks one record at a time
NOT_PER_RECORD = {
    "unique": "compares records with each other",
    "row_count": "counts a bounded sample of records",
    "freshness": "compares the newest record with the time of the test run",
}
VIOLATIONS_PREFIX = "_sluice_violations"
_MAX_TOPIC = 249  # Kafka's limit on a topic name


def resolve_node(
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
    if kind == "test" and project.tests[name].type != "schema":  # a schema test reads no records
        _check_read_through(f"test '{name}'", parents, nodes, project, origin.locate("name"))
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
            real_topic=True,
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
        node = Node(uid, name, kind, test, origin.file, line, parents, test.tags)
        if test.type == CONTINUOUS:
            node = _continuous_test(node, project, capabilities, sections)
        return node
    if kind == "exposure":
        exposure = project.exposures[name]
        return Node(uid, name, kind, exposure, origin.file, line, parents, exposure.tags)

    model = project.models[name]
    rendered = renders.get(uid)
    analysis = None
    if rendered is not None:
        locate = sql_locator(origin, model.sql or "", rendered.sql)
        own_cache = CompileCache() if has_secret(rendered.sql, project) else cache
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
    else:
        materialized = found[1].name
    plugin, definition = choose_provider(
        model, materialized, kinds, capabilities, sections, location
    )
    check_needs(model, materialized, definition, capabilities, sections, kinds, location, node)
    check_masking(model, definition, capabilities, sections, origin)
    if definition.served_at is None:  # a proxy reads the topics it serves itself
        _check_read_through(f"model '{name}'", parents, nodes, project, location)

    columns = _columns(model, analysis, parents, nodes, origin)
    if fallback_active(model, capabilities):
        check_no_bypass(model, columns, nodes, origin)
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
        real_topic=definition.output_topic and definition.real_topic,
        served_at=definition.served_at if definition.output_topic else None,
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


def _check_read_through(
    what: str, parents: Sequence[str], nodes: Mapping[str, Node], project: Project, where: Location
) -> None:
    """A reader of a topic a proxy serves reads it at the proxy's Kafka address: the setting
    that holds that address must be configured."""
    for parent in (nodes[p] for p in parents):
        if parent.served_at and read_bootstrap(parent, project.runtime) is None:
            raise ProjectError(
                f"{what} reads '{parent.name}', a {parent.materialized} whose topic is served at "
                f"runtime.{parent.served_at}, which is not configured",
                location=where,
                hint=f"set runtime.{parent.served_at} to the address readers connect to "
                "(host:port)",
            )


def _no_inferred_kind(model: Model, kind: str, analysis: Any, location: Location) -> SluiceError:
    if kind == "sink":
        why = "it has from: and no SQL"
    elif analysis is not None and analysis.stateful:
        why = f"its SQL is stateful ({', '.join(analysis.stateful_constructs)})"
    else:
        why = "its SQL is stateless"
    dist = distribution_for_kind(kind)
    return ProjectError(
        f"model '{model.name}': {why}, so it is materialized as {kind}, and no installed plugin provides {kind}",
        location=location,
        hint=f"pip install {dist}"
        if dist
        else "install a plugin that provides it, or set materialized:",
    )


def violations_topic(project: str, test: str) -> str:
    """The topic a continuous test's job writes its violations to."""
    return f"{VIOLATIONS_PREFIX}.{project}.{test}"


def _continuous_test(
    node: Node,
    project: Project,
    capabilities: Capabilities,
    sections: Sequence[tuple[str, ConfigSection]],
) -> Node:
    """A continuous test with its violations topic when the run can deploy its job; without
    stream_jobs, as it is (no topic): ``sluice test --watch`` checks it in process."""
    origin = project.origin(node.unique_id)
    for index, assertion in enumerate(node.spec.assertions):
        kind = next(iter(assertion), None)
        if kind in NOT_PER_RECORD:
            raise ProjectError(
                f"test '{node.name}': a continuous test checks one record at a time, and "
                f"{kind} {NOT_PER_RECORD[kind]}",
                location=origin.locate("assertions", index),
                hint=f"move {kind} to a test with type: sample",
            )
    if "stream_jobs" not in capabilities:
        return node
    for need in CONTINUOUS_TEST_NEEDS:
        if need not in capabilities:
            raise CapabilityError(
                f"test '{node.name}': type: continuous runs as a stream job and needs the "
                f"capability '{need}', which no {capabilities.mode} plugin provides",
                location=origin.locate("type"),
                hint=capabilities.missing_hint(need, sections) + "; or use type: sample",
            )
    topic = violations_topic(project.info.name, node.name)
    if len(topic) > _MAX_TOPIC:
        raise ProjectError(
            f"test '{node.name}': its violations topic '{topic}' is longer than Kafka's "
            f"{_MAX_TOPIC} characters",
            location=origin.locate("name"),
            hint="give the test (or the project) a shorter name",
        )
    return replace(node, topic=topic, real_topic=True, format="json")


def sql_locator(origin: Any, template: str, rendered: str) -> Any:
    """Maps a line/column of the rendered SQL to the file position of the template text.

    Rendering replaces ``{{ ref("x") }}`` by a shorter identifier, so a column after it is
    counted back from the end of the line, where template and rendered text agree again.
    """

    def locate(line: int | None, column: int | None) -> Location:
        # called only for an error: the texts are split then, not for every model
        template_lines, rendered_lines = template.splitlines(), rendered.splitlines()
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
    key = content_key(sql, repr(sorted(upstream.items())))
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
    inferred = {c.name: c.type for c in analysis.columns} if analysis is not None else {}
    for index, column in enumerate(model.columns):
        if column.name not in names:
            match = difflib.get_close_matches(column.name, list(names), n=1)
            raise ProjectError(
                f"model '{model.name}': column '{column.name}' is declared but the query does not produce it",
                location=origin.locate("columns", index),
                hint=f"did you mean '{match[0]}'?"
                if match
                else "produced columns: " + ", ".join(sorted(names)),
            )
        found = inferred.get(column.name)
        kinds = {type_kind(column.type), type_kind(found)}
        if len(kinds) == 2 and None not in kinds:  # Flink would refuse the job's INSERT
            raise ProjectError(
                f"model '{model.name}': column '{column.name}' is declared {column.type}, but "
                f"the query gives it type {found}",
                location=origin.locate("columns", index, "type"),
                hint=f"CAST it in the query (CAST(... AS {column.type})), or declare it {found}",
            )
    for masked in model.mask:
        if masked not in names:
            raise ProjectError(
                f"model '{model.name}': mask names column '{masked}', which the model does not produce",
                location=origin.locate("mask", masked, key=True),
                hint="mask columns of the model's own output",
            )
    return tuple(produced)
