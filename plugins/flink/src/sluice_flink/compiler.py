"""Compiling a model into the statements of its Flink job.

A job is: ``SET`` lines (its name, parallelism and options; the runner scopes them to this
job's session), one ``CREATE TEMPORARY TABLE`` per input (named after the upstream node, which
is how the rendered SQL already refers to it), one for the output topic, and
``INSERT INTO <output> <the model's query>``. The output is a ``kafka`` table when the query only
appends, and an ``upsert-kafka`` table with a primary key when it updates its results.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence

from sluice.compiler import CompileContext
from sluice.errors import Location, ProjectError, did_you_mean
from sluice.naming import job_name
from sluice.nodes import Node
from sluice.plugin.api import Artifact
from sluice.project.schema import Model, parse_duration_ms
from sluice.runtime import read_bootstrap
from sluice_flink.config import FlinkModelConfig
from sluice_flink.ddl import Table, column_type, identifier, set_statement
from sluice_flink.functions import FUNCTIONS
from sluice_flink.masking import masked_query
from sluice_flink.options import IDLE_TIMEOUT, format_options, kafka_connection

TRANSACTION_TIMEOUT_MS = 600_000

PLUGIN = "flink"
JOB_KINDS = frozenset({"flink", "topic"})  # kinds whose topic a Flink job fills
READABLE_KINDS = frozenset({"flink", "topic"})  # models whose output is a real Kafka topic
# Settings the runner owns: the job's identity, its recorded spec hash, where it resumes from.
RESERVED_SETTINGS = frozenset(
    {"pipeline.name", "execution.savepoint.path", "pipeline.global-job-parameters"}
)
_NO_FLINK_BLOCK = FlinkModelConfig()  # frozen: one for every model without a flink: block
_EVENT_TIME_TYPE = re.compile(r"^TIMESTAMP(_LTZ)?\(([0-3])\)$", re.IGNORECASE)
# json.dumps(..., sort_keys=True) builds an encoder per call; one encoder gives the same text
_HASHED_JSON = json.JSONEncoder(sort_keys=True)


def compile_job(node: Node, context: CompileContext) -> Artifact | None:
    """The job artifact of a model a Flink job fills, or None for any other node."""
    if node.resource_type != "model" or node.sql is None or node.materialized not in JOB_KINDS:
        _check_flink_block_unused(node, context)
        return None
    model: Model = node.spec
    settings: FlinkModelConfig = model.extensions.get("flink") or _NO_FLINK_BLOCK
    project = context.project.info.name
    pipeline = job_name(project, node.name)
    where = context.location(node, "name")
    runtime_flink = context.runtime.get("flink")
    _check_functions(node, getattr(runtime_flink, "functions", ()), context)
    parallelism = settings.parallelism or getattr(runtime_flink, "parallelism", None)

    statements = [set_statement("pipeline.name", pipeline)]
    if parallelism is not None:
        statements.append(set_statement("parallelism.default", str(parallelism)))
    if "execution.checkpointing.interval" not in settings.config:
        interval = parse_duration_ms(getattr(runtime_flink, "checkpoint_interval", None) or "10s")
        statements.append(set_statement("execution.checkpointing.interval", f"{interval} ms"))
    if settings.state_ttl is not None:
        ttl = parse_duration_ms(settings.state_ttl)
        statements.append(set_statement("table.exec.state.ttl", f"{ttl} ms"))
    for key, value in sorted(settings.config.items()):
        if key in RESERVED_SETTINGS:
            raise ProjectError(
                f"model '{node.name}': flink.config may not set '{key}'",
                location=context.location(node, "flink", "config", key),
                hint="sluice sets it for each job; remove it",
            )
        statements.append(set_statement(key, value))
    connection = kafka_connection(context.runtime, where)
    for upstream in context.upstream(node):
        table = input_table(node, upstream, pipeline, connection, context)
        statements.append(table.create_statement())
    output = output_table(node, connection, context)
    statements.append(output.create_statement())
    query = masked_query(node, _query_text(node.sql), context)
    statements.append(f"INSERT INTO {output.name}\n{query}")

    spec = {
        "pipeline_name": pipeline,
        "statements": statements,
        "parallelism": parallelism,
        "upgrade": settings.upgrade,
        "spec_hash": spec_hash(statements, parallelism),
    }
    if delivery(node, context) == "exactly-once":
        spec["transactional"] = True  # its readers read committed records only
    text = ";\n\n".join(statements) + ";\n"
    return Artifact(PLUGIN, "job", pipeline, spec, file=f"{node.name}.sql", text=text)


def _check_functions(node: Node, extra: Sequence[str], context: CompileContext) -> None:
    """A call of a function Flink does not have would fail the job when it is submitted."""
    for call in node.analysis.calls if node.analysis else ():
        if call.name.upper() in FUNCTIONS or call.name.upper() in (n.upper() for n in extra):
            continue
        register = (
            "if your Flink cluster has it from a catalog or a module, "
            "list it in runtime.flink.functions"
        )
        suggestion = did_you_mean(call.name.upper(), FUNCTIONS)
        raise ProjectError(
            f"model '{node.name}': Flink SQL has no function '{call.name}'",
            location=context.sql_location(node, call.line, call.column),
            hint=f"{suggestion} Or, {register}" if suggestion else register,
        )


def delivery(node: Node, context: CompileContext) -> str:
    """What the sink of ``node``'s job promises (its flink: block, else runtime.flink)."""
    settings: FlinkModelConfig | None = getattr(node.spec, "extensions", {}).get("flink")
    if settings is not None and settings.delivery is not None:
        return settings.delivery
    return getattr(context.runtime.get("flink"), "delivery", None) or "at-least-once"


def exactly_once_sink(pipeline: str) -> dict[str, str]:
    """Transactional writes, one transactional id prefix per job (never shared by two jobs)."""
    return {
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": pipeline,
        # under the brokers' transaction.max.timeout.ms (15 minutes unless raised), above
        # any checkpoint interval plus restart that a healthy job takes
        "properties.transaction.timeout.ms": str(TRANSACTION_TIMEOUT_MS),
    }


def spec_hash(statements: list[str], parallelism: int | None) -> str:
    """What a running job is compared with: a changed hash means the job must be upgraded."""
    payload = _HASHED_JSON.encode({"statements": statements, "parallelism": parallelism})
    return hashlib.sha256(payload.encode()).hexdigest()


def _query_text(sql: str) -> str:
    return sql.strip().rstrip(";").rstrip()


def _check_flink_block_unused(node: Node, context: CompileContext) -> None:
    extensions = getattr(node.spec, "extensions", {})
    if node.resource_type == "model" and "flink" in extensions:
        raise ProjectError(
            f"model '{node.name}' has a flink: block but is materialized as "
            f"{node.materialized}, which runs no Flink job",
            location=context.project.origin(node.unique_id).locate("flink", key=True),
            hint="remove flink:, or set materialized: flink",
        )


# -- inputs -----------------------------------------------------------------------------------


def input_table(
    node: Node,
    upstream: Node,
    pipeline: str,
    connection: Mapping[str, str],
    context: CompileContext,
) -> Table:
    """The table a job reads ``upstream``'s topic through."""
    where = context.location(node, "name")
    _check_readable(node, upstream, where)
    upstream_where = context.location(upstream, "name")
    columns = _typed_columns(node, upstream, context)
    watermark = None
    found = upstream.event_time
    if found is not None:
        column, delay = found
        _check_event_time_type(upstream, column, context)
        watermark = (identifier(column, "column", upstream_where), delay)
    options: dict[str, str]
    primary_key: tuple[str, ...] = ()
    fmt = upstream.format or "json"
    proxy = read_bootstrap(upstream, context.runtime)
    if proxy:  # a topic a proxy serves (a Gateway virtual topic) is read through the proxy
        connection = {**connection, "properties.bootstrap.servers": proxy}
    if upstream.updating:
        primary_key = upsert_key(upstream, context)
        options = {"connector": "upsert-kafka", "topic": upstream.topic or "", **connection}
        options["properties.group.id"] = pipeline
        options |= _keyed_format(fmt, context, where, read=True)
    else:
        options = {"connector": "kafka", "topic": upstream.topic or "", **connection}
        options["properties.group.id"] = pipeline
        options["scan.startup.mode"] = "group-offsets"
        options["properties.auto.offset.reset"] = "earliest"
        options |= format_options(fmt, context.runtime, where, read=True)
    if context.written_in_transactions(upstream):
        # records of aborted or open transactions are never read
        options["properties.isolation.level"] = "read_committed"
    if watermark is not None:
        options["scan.watermark.idle-timeout"] = IDLE_TIMEOUT
    return Table(
        identifier(upstream.name, "name", upstream_where),
        columns,
        options,
        watermark,
        [identifier(k, "column", upstream_where) for k in primary_key],
    )


def _check_readable(node: Node, upstream: Node, where: Location) -> None:
    if upstream.resource_type == "source":
        return
    if upstream.topic and (upstream.materialized in READABLE_KINDS or upstream.served_at):
        return
    raise ProjectError(
        f"model '{node.name}' reads '{upstream.name}', which is materialized as "
        f"{upstream.materialized} and has no Kafka topic a Flink job can read",
        location=where,
        hint=f"materialize '{upstream.name}' as topic or flink",
    )


def _typed_columns(node: Node, upstream: Node, context: CompileContext) -> list[tuple[str, str]]:
    """Every column of ``upstream`` with its type; a Flink table needs them all declared."""
    if not upstream.columns:
        declared_at = context.location(upstream, "name")
        raise ProjectError(
            f"model '{node.name}' reads {upstream.resource_type} '{upstream.name}' in a Flink "
            f"job, but '{upstream.name}' declares no columns",
            location=context.location(node, "name"),
            hint=f"declare columns: (name and type of each field) on {upstream.resource_type} "
            f"'{upstream.name}' at {declared_at}",
        )
    columns = []
    where = context.location(upstream, "name")
    for column in upstream.columns:
        if not column.type:
            raise ProjectError(
                f"column '{column.name}' of {upstream.resource_type} '{upstream.name}' has no "
                f"type, and model '{node.name}' reads it in a Flink job",
                location=where,
                hint=f"declare it under columns: with a type, e.g. "
                f"{{ name: {column.name}, type: STRING }}",
            )
        columns.append(
            (identifier(column.name, "column", where), column_type(column.type, column.name, where))
        )
    return columns


def _check_event_time_type(node: Node, column: str, context: CompileContext) -> None:
    info = node.column(column)
    where = (
        context.location(node, "event_time", "column")
        if getattr(node.spec, "event_time", None)
        else context.location(node, "name")
    )
    if info is None:
        raise ProjectError(
            f"{node.resource_type} '{node.name}': event_time column '{column}' is not one of "
            "its columns",
            location=where,
            hint="declare it under columns: with type TIMESTAMP(3)",
        )
    if not _EVENT_TIME_TYPE.match((info.type or "").replace(" ", "")):
        raise ProjectError(
            f"{node.resource_type} '{node.name}': event_time column '{column}' has type "
            f"{info.type or 'unknown'}; Flink watermarks need TIMESTAMP(3) or TIMESTAMP_LTZ(3)",
            location=where,
            hint="declare the column with type TIMESTAMP(3) (or TIMESTAMP_LTZ(3))",
        )


# -- output -----------------------------------------------------------------------------------


def output_table(node: Node, connection: Mapping[str, str], context: CompileContext) -> Table:
    """The table the job writes the model's topic through."""
    model: Model = node.spec
    where = context.location(node, "name")
    name = identifier(node.name, "model name", where)
    columns = []
    for column in node.columns:
        at = _column_location(node, column.name, context)
        if not column.type:
            raise ProjectError(
                f"model '{node.name}': the type of output column '{column.name}' is unknown",
                location=at,
                hint=f"declare it in columns: with a type, e.g. - {{ name: {column.name}, "
                "type: STRING }",
            )
        columns.append(
            (identifier(column.name, "column", at), column_type(column.type, column.name, at))
        )
    fmt = node.format or "json"
    options: dict[str, str] = {"topic": node.topic or node.name, **connection}
    primary_key: tuple[str, ...] = ()
    if node.updating:
        primary_key = upsert_key(node, context)
        options = {"connector": "upsert-kafka", **options}
        options |= _keyed_format(fmt, context, where, read=False)
    elif model.key:
        options = {"connector": "kafka", **options}
        options |= _keyed_format(fmt, context, where, read=False)
        options["key.fields"] = ";".join(node.key)
    else:
        options = {"connector": "kafka", **options}
        options |= format_options(fmt, context.runtime, where, read=False)
    if delivery(node, context) == "exactly-once":
        options |= exactly_once_sink(job_name(context.project.info.name, node.name))
    return Table(
        name, columns, options, None, [identifier(k, "column", where) for k in primary_key]
    )


def _column_location(node: Node, column: str, context: CompileContext) -> Location:
    for index, declared in enumerate(node.spec.columns):
        if declared.name == column:
            return context.location(node, "columns", index)
    return context.location(node, "name")


def _keyed_format(
    fmt: str, context: CompileContext, where: Location, *, read: bool
) -> dict[str, str]:
    options = format_options(fmt, context.runtime, where, prefix="key.", read=read)
    options |= format_options(fmt, context.runtime, where, prefix="value.", read=read)
    options["value.fields-include"] = "ALL"
    return options


def upsert_key(node: Node, context: CompileContext) -> tuple[str, ...]:
    """The primary key of an updating model's topic (the core derives ``node.key``)."""
    if not node.key:
        raise ProjectError(
            f"model '{node.name}': its query updates rows it has already emitted, so its "
            "topic is written with upsert-kafka, which needs a primary key, and no GROUP BY "
            "column of the output can serve as one",
            location=context.location(node, "name"),
            hint="declare the output columns that identify a row with key: [col, ...]",
        )
    return node.key
