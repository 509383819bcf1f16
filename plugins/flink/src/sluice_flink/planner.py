"""The online half of sluice-flink: probe, plan, apply and status of the compiled jobs.

Identity and recorded spec. A job is found by its name (``pipeline.name`` =
``sluice.<project>.<model>``). The spec hash it was compiled from travels with the job as a
global job parameter: the session that submits it sets
``pipeline.global-job-parameters = sluice.spec-hash:<hash>``, which Flink shows in
``GET /jobs/<id>/config`` under ``execution-config.user-config``. (An arbitrary session key such
as ``sluice.spec-hash`` is accepted by the gateway but appears in neither the job's config nor
anywhere else the REST API shows; the job name must stay exactly the pipeline name.) A job
carrying that parameter is one sluice submitted: only such jobs are ever deleted as orphans.

Submission. With ``runtime.flink.sql_gateway_url``, every job is submitted in a SQL Gateway
session of its own, opened with the job's properties and closed afterwards, so a ``SET`` of one
job (``pipeline.name``, parallelism, options) never reaches another. With only ``rest_url``,
jobs go through Flink's REST API and sluice's SQL-runner jar (:mod:`sluice_flink.runner`): each
run of the jar has a TableEnvironment of its own, and the same properties are the run's
configuration, so a job has the same name and recorded hash whichever way it was submitted.

Upgrades. A running job whose hash differs is replaced according to the model's ``upgrade:``:
``savepoint`` stops it with a savepoint and resubmits from it (``execution.savepoint.path``),
``stateless`` cancels it and resubmits (its sources resume from the offsets committed under
the job's consumer group), ``fail`` makes the plan fail. A job that is missing, FAILED or
CANCELED is submitted again; one that FINISHED with a savepoint (sluice stopped it for a
replace, and the resubmission did not happen) is resumed from that savepoint when its model
upgrades with savepoints.

Deletes. ``destroy`` and ``apply --prune`` (a model that left the project) delete a job so
that nothing of it is resumed: a later apply of the same model must rebuild its topic, which
the Kafka plugin deleted, from the start of its inputs. So the job is cancelled, never stopped
with a savepoint (a FINISHED job with a savepoint is what a failed replace leaves, and is
resumed; a CANCELED one never is), and once it has stopped its consumer group, where its
sources committed their offsets, is deleted (:mod:`sluice_flink.groups`); the next submission
reads from the earliest offsets. Cancelling rather than keeping a savepoint nobody would
resume is the simplest design that keeps "stopped for a replace" (FINISHED) and "deleted"
(CANCELED) apart in Flink's own job list, with no record of sluice's. ``destroy`` also deletes
the group of a job that no longer runs (FAILED, CANCELED, or gone from Flink's list) when the
group still exists, and prune the group of a job of the project that sluice submitted and
that ended (not when another plugin's resource, a Redpanda Connect stream, now has the job's
name: it reads with that group). One case is left: a job that FINISHED with a savepoint because its resubmission
failed is resumed by an apply while Flink still lists it (``jobstore.expiration-time``, 1 h by
default); destroy deletes its group and warns of it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from sluice.errors import ProjectError, RemoteError
from sluice.naming import job_prefix
from sluice.nodes import Node
from sluice.plugin.api import (
    ApplyResult,
    Artifact,
    Change,
    PlanWarning,
    ProbeResult,
    StatusItem,
)
from sluice.project.variables import secret_values
from sluice.runtime import RunContext
from sluice_flink import groups, runner
from sluice_flink.client import TERMINAL_STATES, FlinkError, FlinkRest, SqlGateway
from sluice_flink.config import FlinkConfig

PLUGIN = "flink"
KIND = "job"
HASH_KEY = "sluice.spec-hash"
SAVEPOINT_KEYS = ("execution.checkpointing.savepoint-dir", "state.savepoints.dir")
STATEMENT_TIMEOUT = 120.0  # one statement in the gateway (planning an INSERT takes seconds)
RUNNING_TIMEOUT = 180.0  # from submission until every task runs (2-core machines are slow)
SAVEPOINT_TIMEOUT = 300.0  # a stop-with-savepoint, until the job has finished
_SECRET = re.compile(r"\{\{secret:([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\}\}")


# -- clients ----------------------------------------------------------------------------------


def _config(runtime: Mapping[str, Any]) -> FlinkConfig | None:
    config = runtime.get(PLUGIN)
    return config if isinstance(config, FlinkConfig) else None


@contextmanager
def _rest(context: RunContext, config: FlinkConfig) -> Iterator[FlinkRest]:
    client = FlinkRest(config.rest_url, secrets=secret_values(context.runtime.values()))
    try:
        yield client
    finally:
        client.close()


@contextmanager
def _gateway(context: RunContext, config: FlinkConfig) -> Iterator[SqlGateway]:
    if config.sql_gateway_url is None:
        raise RemoteError(
            "sluice submits Flink SQL jobs through the SQL Gateway, and runtime.flink has no "
            "sql_gateway_url",
            hint="start a SQL Gateway next to the cluster and set runtime.flink.sql_gateway_url",
        )
    client = SqlGateway(config.sql_gateway_url, secrets=secret_values(context.runtime.values()))
    try:
        yield client
    finally:
        client.close()


def submission_path(config: FlinkConfig) -> str:
    """``gateway`` when runtime.flink has a SQL Gateway, else ``rest`` (the runner jar)."""
    return "gateway" if config.sql_gateway_url else "rest"


def _savepoint_dir(config: FlinkConfig, cluster: Mapping[str, str]) -> str | None:
    if config.savepoint_dir:
        return config.savepoint_dir
    return next((cluster[k] for k in SAVEPOINT_KEYS if cluster.get(k)), None)


# -- probe ------------------------------------------------------------------------------------


def probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Version, TaskManagers and slots, the savepoint directory, and the gateway's answer."""
    config = _config(runtime)
    if config is None:
        return None
    with FlinkRest(config.rest_url, timeout=timeout) as rest:
        overview = rest.overview()
        cluster = rest.cluster_config()
    savepoints = _savepoint_dir(config, cluster)
    capabilities = ["stream_jobs"] + (["savepoints"] if savepoints else [])
    parts = [
        f"{overview.get('taskmanagers', 0)} TaskManager(s), "
        f"{overview.get('slots-available', 0)}/{overview.get('slots-total', 0)} slots free",
        f"savepoints to {savepoints}" if savepoints else "no savepoint directory configured",
    ]
    if config.sql_gateway_url:
        with SqlGateway(config.sql_gateway_url, timeout=timeout) as gateway:
            info = gateway.info()
        parts.append(f"jobs submitted through the SQL Gateway {info.get('version', '?')}")
    else:
        parts.append(runner.describe(overview.get("flink-version")))
    return ProbeResult(
        reachable=True,
        capabilities=tuple(capabilities),
        version=str(overview.get("flink-version")) if overview.get("flink-version") else None,
        detail="; ".join(parts),
    )


# -- live jobs ---------------------------------------------------------------------------------


def current_jobs(jobs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Name -> the job that stands for it: the newest one still alive, else the newest one."""
    chosen: dict[str, dict[str, Any]] = {}
    for job in jobs:
        name = str(job.get("name"))
        rank = (job.get("state") not in TERMINAL_STATES, int(job.get("start-time") or 0))
        held = chosen.get(name)
        held_rank = (
            (held.get("state") not in TERMINAL_STATES, int(held.get("start-time") or 0))
            if held
            else None
        )
        if held_rank is None or rank > held_rank:
            chosen[name] = dict(job)
    return chosen


def _alive(job: Mapping[str, Any] | None) -> bool:
    return job is not None and job.get("state") not in TERMINAL_STATES


def _short(spec_hash: str | None) -> str | None:
    return spec_hash[:12] if spec_hash else None


def _finished_savepoint(rest: FlinkRest, job: Mapping[str, Any]) -> str | None:
    """Where a job that FINISHED was stopped with a savepoint, if it was."""
    if job.get("state") != "FINISHED":
        return None
    latest = rest.checkpoints(str(job["jid"])).get("latest") or {}
    savepoint = latest.get("savepoint") or {}
    path = savepoint.get("external_path")
    return str(path) if path else None


# -- plan -------------------------------------------------------------------------------------


def plan(artifacts: Sequence[Artifact], context: RunContext) -> list[Change | PlanWarning]:
    config = _config(context.runtime)
    jobs = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if config is None or (not jobs and context.destroy):
        return []
    node_of = context.manifest.artifact_owners
    changes: list[Change] = []
    warnings: list[PlanWarning] = []
    with _rest(context, config) as rest:
        live = current_jobs(rest.jobs())
        if context.destroy:
            changes, warnings = _destroy(rest, context, jobs, node_of, live)
        else:
            changes = [_plan_job(rest, a, node_of.get(a.key), live.get(a.name)) for a in jobs]
            changes += _orphans(rest, context, live)
        needs_savepoints = [c for c in changes if c.payload.get("upgrade") == "savepoint"]
        if needs_savepoints and _savepoint_dir(config, rest.cluster_config()) is None:
            names = ", ".join(c.name for c in needs_savepoints)
            raise ProjectError(
                f"upgrading {names} needs a savepoint, and neither runtime.flink.savepoint_dir "
                "nor the cluster's execution.checkpointing.savepoint-dir is set",
                hint="set runtime.flink.savepoint_dir, or upgrade: stateless on the model",
            )
    return [*changes, *warnings]


def _plan_job(rest: FlinkRest, artifact: Artifact, node: str | None, job: Any) -> Change:
    spec = artifact.spec
    desired = str(spec["spec_hash"])
    payload: dict[str, Any] = {"job": dict(spec)}
    if not _alive(job):
        reason = "no job of that name" if job is None else f"job {job['jid']} is {job['state']}"
        resume = None
        if job is not None and spec.get("upgrade", "savepoint") == "savepoint":
            resume = _finished_savepoint(rest, job)
        if resume:
            reason += f"; resumes from its savepoint {resume}"
            payload["savepoint"] = resume
        return Change(
            PLUGIN,
            "create",
            KIND,
            artifact.name,
            node=node,
            diff={"state": (job["state"] if job else None, "RUNNING")},
            reason=reason,
            payload=payload,
        )
    live_hash = rest.user_config(str(job["jid"])).get(HASH_KEY)
    if live_hash == desired:
        return Change(PLUGIN, "none", KIND, artifact.name, node=node)
    upgrade = str(spec.get("upgrade", "savepoint"))
    if upgrade == "fail":
        raise ProjectError(
            f"Flink job {artifact.name} changed (spec {_short(live_hash)} -> "
            f"{_short(desired)}), and its model says upgrade: fail",
            hint="stop the job yourself, or set flink: { upgrade: savepoint } (or stateless) "
            "on the model",
        )
    payload |= {"upgrade": upgrade, "job_id": job["jid"]}
    how = "stop with savepoint, resubmit from it" if upgrade == "savepoint" else "cancel, resubmit"
    return Change(
        PLUGIN,
        "replace",
        KIND,
        artifact.name,
        node=node,
        diff={"spec_hash": (_short(live_hash), _short(desired))},
        reason=f"the job's SQL or settings changed; {how}",
        payload=payload,
    )


def _destroy(
    rest: FlinkRest,
    context: RunContext,
    jobs: Sequence[Artifact],
    node_of: Mapping[str, str],
    live: Mapping[str, Mapping[str, Any]],
) -> tuple[list[Change], list[PlanWarning]]:
    """The deletes of ``destroy``: every running job, and the group of every other job that
    still has one (a FAILED or CANCELED job would be resubmitted from it)."""
    changes: list[Change] = []
    ended: list[Artifact] = []
    for artifact in jobs:
        job = live.get(artifact.name)
        if _alive(job):
            assert job is not None
            changes.append(_delete(artifact.name, node_of.get(artifact.key), job, "sluice destroy"))
        else:
            ended.append(artifact)
    warnings: list[PlanWarning] = []
    kept = groups.existing(context.runtime, [a.name for a in ended])
    for artifact in ended:
        node, job = node_of.get(artifact.key), live.get(artifact.name)
        if artifact.name in kept:
            changes.append(_forget(artifact.name, node, job, "sluice destroy"))
        if job is not None and (savepoint := _finished_savepoint(rest, job)):
            warnings.append(
                PlanWarning(
                    PLUGIN,
                    f"job {artifact.name} ({job['jid']}) FINISHED with the savepoint {savepoint} "
                    "when a replace could not resubmit it; while Flink lists that job "
                    "(jobstore.expiration-time, 1 h by default) an apply resumes from the "
                    "savepoint instead of the earliest offsets",
                    node=node,
                )
            )
    return changes, warnings


def _outcome(group: str) -> str:
    return f"deletes its consumer group {group}: a later apply starts from the earliest offsets"


def _delete(
    name: str, node: str | None, job: Mapping[str, Any], why: str, shared: str | None = None
) -> Change:
    """Delete a running job: cancel it (no savepoint, so nothing resumes it), then delete its
    consumer group (the job's name, see :mod:`sluice_flink.groups`) unless ``shared`` names
    another resource of the project that reads with that group now."""
    if shared:
        what = f"keeps its consumer group {name}, which {shared} reads with"
    else:
        what = _outcome(name)
    return Change(
        PLUGIN,
        "delete",
        KIND,
        name,
        node=node,
        diff={"state": (job.get("state"), None)},
        destructive=True,
        reason=f"{why}; cancels job {job['jid']} and {what}",
        payload={"job_id": job["jid"], "group": None if shared else name},
    )


def _forget(name: str, node: str | None, job: Mapping[str, Any] | None, why: str) -> Change:
    """Delete the consumer group of a job that no longer runs."""
    state = job.get("state") if job else None
    what = f"job {job['jid']} is {state}" if job else "no job of that name"
    return Change(
        PLUGIN,
        "delete",
        KIND,
        name,
        node=node,
        diff={"group": (name, None)},
        destructive=True,
        reason=f"{why}; {what}; {_outcome(name)}",
        payload={"job_id": None, "group": name},
    )


def _orphans(
    rest: FlinkRest, context: RunContext, live: Mapping[str, Mapping[str, Any]]
) -> list[Change]:
    """Jobs of this project that sluice submitted and whose model left the project: the
    running ones, and the group of those that ended when it still exists."""
    prefix = job_prefix(context.project.info.name)
    wanted = {a.name for a in context.project_artifacts(PLUGIN) if a.kind == KIND}
    # a model that moved to another plugin under the same name (a Redpanda Connect stream)
    # reads with the same group: the old job goes, the group stays
    others = {
        a.name: f"the {a.plugin} {a.kind} {a.name}"
        for a in context.manifest.all_artifacts()
        if a.plugin != PLUGIN
    }
    changes = []
    ended: dict[str, Mapping[str, Any]] = {}
    for name, job in sorted(live.items()):
        if not name.startswith(prefix) or name in wanted:
            continue
        if HASH_KEY not in rest.user_config(str(job["jid"])):
            continue  # not submitted by sluice: never touched
        if _alive(job):
            why = "its model left the project"
            changes.append(_delete(name, None, job, why, others.get(name)))
        elif name not in others:
            ended[name] = job
    kept = groups.existing(context.runtime, list(ended))
    changes += [
        _forget(name, None, job, "its model left the project")
        for name, job in ended.items()
        if name in kept
    ]
    return changes


# -- apply ------------------------------------------------------------------------------------


def apply(change: Change, context: RunContext) -> ApplyResult:
    config = _config(context.runtime)
    if config is None:
        raise RemoteError("runtime.flink is not configured")
    with _rest(context, config) as rest:
        if change.action == "delete":
            return ApplyResult(change, "success", _delete_job(rest, context, change))
        location = change.payload.get("savepoint")
        if change.action == "replace":
            if change.payload.get("upgrade") == "savepoint":
                location = rest.stop_with_savepoint(
                    str(change.payload["job_id"]), config.savepoint_dir, SAVEPOINT_TIMEOUT
                )
            else:
                rest.cancel(str(change.payload["job_id"]))
                rest.wait_for_state(str(change.payload["job_id"]), TERMINAL_STATES, RUNNING_TIMEOUT)
        elif change.action != "create":
            raise RemoteError(f"sluice-flink cannot {change.action} a {change.kind}")
        try:
            job_id, seconds = submit(context, config, rest, change.payload["job"], location)
        except RemoteError as exc:
            if location:
                exc.hint = (
                    f"the previous job was stopped with savepoint {location}; the next apply "
                    "resumes from it"
                )
            raise
    message = f"job {job_id} RUNNING ({seconds:.1f}s from submission)"
    if location:
        message += f"; restored from savepoint {location}"
    return ApplyResult(change, "success", message)


def _delete_job(rest: FlinkRest, context: RunContext, change: Change) -> str:
    """Cancel the job (when it runs), wait until it has stopped, delete its consumer group."""
    parts = []
    job_id = change.payload.get("job_id")
    if job_id:
        job_id = str(job_id)
        if rest.job(job_id).get("state") not in TERMINAL_STATES:
            rest.cancel(job_id)
        state = rest.wait_for_state(job_id, TERMINAL_STATES, RUNNING_TIMEOUT)
        parts.append(f"job {job_id} cancelled" if state == "CANCELED" else f"job {job_id} {state}")
    group = change.payload.get("group")
    if group is None:
        parts.append(f"consumer group {change.name} kept")
    elif groups.delete(context.runtime, str(group)):
        parts.append(f"consumer group {group} deleted")
    else:
        parts.append(f"consumer group {group} had no offsets")
    return "; ".join(parts)


def session_properties(spec: Mapping[str, Any], savepoint: str | None) -> dict[str, str]:
    """What the job's own session is opened with (besides the job's SET statements)."""
    properties = {
        "pipeline.name": str(spec["pipeline_name"]),
        "pipeline.global-job-parameters": f"{HASH_KEY}:{spec['spec_hash']}",
    }
    if savepoint:
        properties["execution.savepoint.path"] = savepoint
    return properties


def submit(
    context: RunContext,
    config: FlinkConfig,
    rest: FlinkRest,
    spec: Mapping[str, Any],
    savepoint: str | None,
) -> tuple[str, float]:
    """Submit the job (SQL Gateway or REST API, see :func:`submission_path`); wait until it runs."""
    started = time.monotonic()
    if submission_path(config) == "gateway":
        job_id = _submit_through_gateway(context, config, spec, savepoint)
    else:
        job_id = runner.run_job(
            rest,
            context.scratch,
            str(spec["pipeline_name"]),
            [with_secrets(statement, context.runtime) for statement in spec["statements"]],
            session_properties(spec, None),  # the savepoint goes in the run request itself
            spec.get("parallelism"),
            savepoint,
        )
    rest.wait_until_running(job_id, RUNNING_TIMEOUT)
    return job_id, time.monotonic() - started


def _submit_through_gateway(
    context: RunContext, config: FlinkConfig, spec: Mapping[str, Any], savepoint: str | None
) -> str:
    """Run the job's statements in a session of its own; the id of the job they started."""
    name = str(spec["pipeline_name"])
    job_id: str | None = None
    with (
        _gateway(context, config) as gateway,
        gateway.session(name, session_properties(spec, savepoint)) as handle,
    ):
        for number, statement in enumerate(spec["statements"], start=1):
            text = with_secrets(statement, context.runtime)
            try:
                result = gateway.execute(handle, text, STATEMENT_TIMEOUT)
            except FlinkError as exc:
                head = statement.strip().splitlines()[0]
                raise RemoteError(
                    f"job {name}: statement {number} ({head} ...) failed: {exc.server}"
                ) from None
            job_id = result.job_id or job_id
    if job_id is None:
        raise RemoteError(f"job {name}: the SQL Gateway ran the statements but started no job")
    return job_id


def with_secrets(statement: str, runtime: Mapping[str, Any]) -> str:
    """``statement`` with each ``{{secret:<section>.<key>}}`` replaced by the secret's value.

    The value is escaped for where the marker sits: inside a SQL string literal (quotes
    doubled) and, in a JAAS ``password="..."``, for the JAAS parser too.
    """

    def value(match: re.Match[str]) -> str:
        section, key = match.group(1), match.group(2)
        secret = getattr(runtime.get(section), key, None)
        if secret is None:
            raise RemoteError(
                f"a Flink job needs runtime.{section}.{key}, which is not set in this environment"
            )
        text = secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)
        if match.string[: match.start()].endswith('password="'):
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        return text.replace("'", "''")

    return _SECRET.sub(value, statement)


# -- status -----------------------------------------------------------------------------------


def _time(millis: Any) -> str | None:
    if not millis or int(millis) <= 0:
        return None
    moment = datetime.fromtimestamp(int(millis) / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> list[StatusItem]:
    config = _config(context.runtime)
    jobs = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if config is None or not jobs:
        return []
    node_of = context.manifest.artifact_owners
    wanted = {n.unique_id for n in nodes}
    items = []
    with _rest(context, config) as rest:
        live = current_jobs(rest.jobs())
        for artifact in jobs:
            node = node_of.get(artifact.key, artifact.name)
            if wanted and node not in wanted:
                continue
            found = live.get(artifact.name)
            if found is None:
                items.append(StatusItem(node, PLUGIN, artifact.name, "MISSING"))
                continue
            items.append(_job_status(rest, node, artifact, found))
    return items


def _job_status(
    rest: FlinkRest, node: str, artifact: Artifact, found: Mapping[str, Any]
) -> StatusItem:
    job_id = str(found["jid"])
    job = rest.job(job_id)
    state = str(job.get("state"))
    timestamps = job.get("timestamps") or {}
    detail: dict[str, Any] = {"job": job_id}
    since = _time(timestamps.get(state)) or _time(job.get("start-time"))
    if since:
        detail["since"] = since
    if state not in TERMINAL_STATES:
        live_hash = rest.user_config(job_id).get(HASH_KEY)
        detail["spec"] = "current" if live_hash == artifact.spec.get("spec_hash") else "changed"
    restored = (rest.checkpoints(job_id).get("latest") or {}).get("restored") or {}
    if restored.get("is_savepoint") and restored.get("external_path"):
        detail["savepoint"] = restored["external_path"]
    if state == "FAILED":
        cause = rest.root_exception(job_id)
        if cause:
            detail["error"] = cause
    return StatusItem(node, PLUGIN, artifact.name, state, detail)
