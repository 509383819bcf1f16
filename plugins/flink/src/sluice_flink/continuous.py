"""Continuous tests (``type: continuous``): one Flink job per test, checking every record.

The job ``sluice.<project>.test.<test>`` reads the tested node's topic the way a model's job
reads it (consumer group = the job's name, from the earliest offset the first time), and
writes one record per violation — per record and broken check — to the test's violations
topic (``node.topic``, which the core names ``_sluice_violations.<project>.<test>`` and
sluice-kafka creates). It is planned, applied, upgraded and pruned like a model's job; an
upgrade is stateless: the new job resumes from the offsets the old one committed on its last
checkpoint, so a few records may be checked twice, never skipped. ``destroy`` and a prune
cancel it and delete its consumer group, as for a model's job (:mod:`sluice_flink.planner`):
the violations topic is deleted with it, so a later apply checks from the earliest record.

A violation is a JSON object (see :data:`VIOLATION_COLUMNS`): the test, the assertion and the
reason, the record as JSON (columns classified sensitive, restricted or pii, or computed from
such columns, are written as ``"***"``), the record's partition and offset, its event time (as
text, when the node has one), when the job found it (``processed_at``, UTC) and the version
of the checks that found it (a hash of them: ``sluice test`` counts only the violations of the
checks the project holds now, so a loosened assertion stops failing at once).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from sluice.compiler import CompileContext
from sluice.errors import ProjectError
from sluice.governance import MASK, sensitive_columns
from sluice.naming import test_job_name
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project.schema import parse_duration_ms
from sluice_flink.checks import Check, build_checks
from sluice_flink.compiler import PLUGIN, input_table, spec_hash
from sluice_flink.ddl import Table, identifier, literal, set_statement
from sluice_flink.options import kafka_connection

TEST_TYPE = "continuous"
UPGRADE = "stateless"  # a test job's only state is its read position, committed to its group
VIOLATION_COLUMNS = (
    ("test", "STRING"),
    ("assertion", "STRING"),
    ("reason", "STRING"),
    ("record", "STRING"),
    ("partition", "INT"),
    ("offset", "BIGINT"),
    ("event_time", "STRING"),
    ("processed_at", "TIMESTAMP_LTZ(3)"),
    ("version", "STRING"),
)
_OUTPUT = "__sluice_violations"
_CHECKED = "__sluice_checked"
_RECORD = "__sluice_record"
# where the read record came from, as virtual metadata columns of the input table
_METADATA = (("__sluice_partition", "INT", "partition"), ("__sluice_offset", "BIGINT", "offset"))


def compile_test(node: Node, context: CompileContext) -> Artifact | None:
    """The job artifact of a continuous test, or None for any other node and for a
    continuous test without a violations topic (the run provides no stream_jobs: such a test
    is checked in process by ``sluice test --watch``)."""
    if node.resource_type != "test" or getattr(node.spec, "type", None) != TEST_TYPE:
        return None
    if node.topic is None:
        return None
    tested = _tested_node(node, context)
    checks = build_checks(node, tested, context)
    pipeline = test_job_name(context.project.info.name, node.name)
    where = context.location(node, "name")
    runtime_flink = context.runtime.get("flink")
    parallelism = getattr(runtime_flink, "parallelism", None)
    interval = parse_duration_ms(getattr(runtime_flink, "checkpoint_interval", None) or "10s")

    statements = [set_statement("pipeline.name", pipeline)]
    if parallelism is not None:
        statements.append(set_statement("parallelism.default", str(parallelism)))
    statements.append(set_statement("execution.checkpointing.interval", f"{interval} ms"))
    connection = kafka_connection(context.runtime, where)
    source = _checked_table(node, tested, pipeline, connection, context)
    statements.append(source.create_statement())
    output = violations_table(node, connection)
    statements.append(output.create_statement())
    version = checks_version(checks)
    statements.append(insert_statement(node, tested, source, checks, version, context))
    spec = {
        "pipeline_name": pipeline,
        "checks_version": version,
        "statements": statements,
        "parallelism": parallelism,
        "upgrade": UPGRADE,
        "spec_hash": spec_hash(statements, parallelism),
    }
    text = ";\n\n".join(statements) + ";\n"
    return Artifact(PLUGIN, "job", pipeline, spec, file=f"tests/{node.name}.sql", text=text)


def _tested_node(test: Node, context: CompileContext) -> Node:
    """The source or model the test checks, once it is sure a Flink job can read it."""
    tested = context.upstream(test)[0]
    where = context.location(test, "model")
    what = f"{tested.resource_type} '{tested.name}'"
    readable = tested.real_topic or tested.served_at  # served_at: read through the proxy
    if not tested.topic or not readable or tested.resource_type == "test":
        raise ProjectError(
            f"test '{test.name}': a continuous test reads the Kafka topic of what it checks, "
            f"and {what} has none",
            location=where,
            hint="check a source or a model with a topic, or use type: sample on it",
        )
    untyped = [c.name for c in tested.columns if not c.type]
    if not tested.columns or untyped:
        missing = f"column '{untyped[0]}' has no type" if untyped else "it declares no columns"
        raise ProjectError(
            f"test '{test.name}': its Flink job reads {what} with declared column types, and "
            f"{missing}",
            location=context.location(tested, "name"),
            hint=f"declare the columns of {what} with their types, "
            "e.g. - { name: id, type: STRING }",
        )
    if tested.name in (_OUTPUT, _CHECKED):
        raise ProjectError(
            f"test '{test.name}': {what} has a name sluice uses in the test's job",
            location=where,
            hint="rename it",
        )
    return tested


def _checked_table(
    test: Node, tested: Node, pipeline: str, connection: dict[str, str], context: CompileContext
) -> Table:
    """The tested node's topic as its readers see it, plus partition and offset; every
    message of an updating (upsert) topic is read as a record of its own."""
    table = input_table(test, tested, pipeline, connection, context)
    if tested.updating:
        table = _append_only(table)
    metadata = [
        (identifier(name, "column", context.location(test, "name")), f"{type_} {_virtual(key)}")
        for name, type_, key in _METADATA
    ]
    return replace(table, columns=[*table.columns, *metadata])


def _virtual(key: str) -> str:
    return f"METADATA FROM {literal(key)} VIRTUAL"


def _append_only(table: Table) -> Table:
    """An ``upsert-kafka`` table read with the plain ``kafka`` connector: every message is a
    row (the value holds every column), deletions (null values) are skipped."""
    options: dict[str, str] = {"connector": "kafka"}
    for key, value in table.options.items():
        if key == "connector" or key.startswith("key.") or key == "value.fields-include":
            continue
        options[key.removeprefix("value.")] = value
    options["scan.startup.mode"] = "group-offsets"
    options["properties.auto.offset.reset"] = "earliest"
    return replace(table, options=options, primary_key=())


def violations_table(test: Node, connection: dict[str, str]) -> Table:
    """The test's violations topic, written as JSON (timestamps in ISO-8601, UTC)."""
    assert test.topic is not None  # the core names it for every continuous test
    options = {
        "connector": "kafka",
        "topic": test.topic,
        **connection,
        "format": "json",
        "json.timestamp-format.standard": "ISO-8601",
    }
    columns = [(f"`{name}`", type_) for name, type_ in VIOLATION_COLUMNS]
    return Table(f"`{_OUTPUT}`", columns, options)


def checks_version(checks: list[Check]) -> str:
    """What the violations of one version of a test's checks are marked with."""
    payload = json.dumps([[c.label, c.condition, c.reason] for c in checks])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def insert_statement(
    test: Node,
    tested: Node,
    source: Table,
    checks: list[Check],
    version: str,
    context: CompileContext,
) -> str:
    """``INSERT INTO`` the violations: one ``SELECT`` per check over the tested records (the
    source is read once; Flink reuses it for every branch)."""
    where = context.location(test, "name")
    record = record_json(tested, context)
    event_time = "CAST(NULL AS STRING)"
    if tested.event_time is not None:
        event_time = f"CAST({identifier(tested.event_time[0], 'column', where)} AS STRING)"
    partition, offset = (identifier(name, "column", where) for name, _, _ in _METADATA)
    branches = [
        f"SELECT {literal(test.name)}, {literal(check.label)}, {check.reason}, `{_RECORD}`, "
        f"{partition}, {offset}, {event_time}, CURRENT_TIMESTAMP, {literal(version)}\n"
        f"FROM `{_CHECKED}`\nWHERE {check.condition}"
        for check in checks
    ]
    columns = ", ".join(name for name, _ in source.columns)
    return (
        f"INSERT INTO `{_OUTPUT}`\n"
        f"WITH `{_CHECKED}` AS (\n"
        f"  SELECT {columns},\n    {record} AS `{_RECORD}`\n  FROM {source.name}\n)\n"
        + "\nUNION ALL\n".join(branches)
    )


def record_json(tested: Node, context: CompileContext) -> str:
    """``JSON_OBJECT`` of every declared column, sensitive ones masked."""
    where = context.location(tested, "name")
    hidden = sensitive_columns(tested, context.nodes)
    pairs = []
    for column in tested.columns:
        name = identifier(column.name, "column", where)
        value = name
        if column.name in hidden:  # say whether it was null, never what it held
            value = f"CASE WHEN {name} IS NULL THEN NULL ELSE {literal(MASK)} END"
        pairs.append(f"KEY {literal(column.name)} VALUE {value}")
    return f"JSON_OBJECT({', '.join(pairs)})"
