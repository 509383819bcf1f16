"""The online half of sluice-connect: probe, plan, apply and status of connectors.

Identity and ownership. A connector is named ``<project>-<model>``. Every config sluice puts
carries two keys of its own: ``sluice.project`` (the project's name) and ``sluice.declared``
(the keys the project declared, sorted, comma-separated). Connect stores a connector's config
as given and passes unknown keys to the connector, which ignores them (``validate`` reports no
error for them), so the marker lives with the connector itself, in the worker's config topic:
it survives any machine, needs no store of sluice's own, and is read in the same request as
the config. A connector is sluice's to delete as an orphan only when both its name starts with
``<project>-`` and its ``sluice.project`` names the project; everything else on the cluster is
never touched.

Diffs. Plan compares only the declared keys and the keys sluice sets itself (the marker) with
the live config, so keys a worker or a managed service adds never show up as drift. A key
recorded in ``sluice.declared`` that the project no longer declares is shown as removed (the
idempotent ``PUT /connectors/<name>/config`` sends the whole config, so it goes away).

Secrets. ``${VAR}`` (and ``{{secret:<section>.<key>}}`` markers of the converters) stay
unresolved in artifacts and in the changes plan returns. They are resolved in memory to compare
with the live config, and again when the config is put; a key whose value has a reference is
shown as the reference on the desired side and as ``****`` on the live side, never as a value.
Resolved values are masked in every error Connect answers and added to the project's redactor.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from sluice.errors import Location, PlanError, ProjectErrors, RemoteError, SluiceError
from sluice.nodes import Node
from sluice.plugin.api import ApplyResult, Artifact, Change, ProbeResult, StatusItem
from sluice.project.variables import secret_values
from sluice.runtime import RunContext
from sluice_connect import dlq as dead_letters
from sluice_connect.client import (
    MASK,
    ConnectClient,
    failed_parts,
    failure_of,
    is_running,
    states_of,
    trace_summary,
)
from sluice_connect.config import ConnectConfig

PLUGIN = "connect"
KIND = "connector"
DELIVERY = 2  # Change.stage: after topics (0) and jobs (1)
MARK_PROJECT = "sluice.project"
MARK_DECLARED = "sluice.declared"
RUNNING_TIMEOUT = 120.0  # from the PUT until the connector and its tasks run
SETTLE = 3.0  # a task that fails on its first records does so within a moment of starting
DELETE_TIMEOUT = 60.0
RESTART_GRACE = 15.0  # after a restart, how long an old FAILED state may linger
DLQ_KEY = "errors.deadletterqueue.topic.name"
DLQ_DIFF = "(dead letter topic)"
_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
_SECRET_MARKER = re.compile(r"\{\{secret:([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\}\}")
_SECRET_KEY = re.compile(r"password|passwd|secret|token|api\.?key|credential", re.IGNORECASE)
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|CREDENTIAL|PRIVATE", re.I)


# -- configuration and clients ----------------------------------------------------------------


def connect_config(runtime: Mapping[str, Any]) -> ConnectConfig | None:
    config = runtime.get(PLUGIN)
    return config if isinstance(config, ConnectConfig) else None


def make_client(
    config: ConnectConfig, timeout: float | None = None, secrets: Sequence[str] = ()
) -> ConnectClient:
    auth = None
    if config.basic_auth_user:
        password = config.basic_auth_password
        auth = (config.basic_auth_user, password.get_secret_value() if password else "")
    kwargs: dict[str, Any] = {"auth": auth, "secrets": secrets}
    if timeout is not None:
        kwargs["timeout"] = timeout
    return ConnectClient(config.rest_url, **kwargs)


@contextmanager
def _client(context: RunContext, secrets: Sequence[str] = ()) -> Iterator[ConnectClient]:
    config = connect_config(context.runtime)
    if config is None:
        raise RemoteError("runtime.connect is not configured", hint="add runtime.connect.rest_url")
    client = make_client(config, secrets=[*secret_values(context.runtime.values()), *secrets])
    try:
        yield client
    finally:
        client.close()


# -- probe ------------------------------------------------------------------------------------


def probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """The worker's version and the connector plugins installed on it."""
    config = connect_config(runtime)
    if config is None:
        return None
    with make_client(config, timeout=timeout, secrets=secret_values(runtime.values())) as client:
        info = client.info()
        plugins = client.plugins()
    sinks = sorted(p["class"] for p in plugins if p.get("type") == "sink")
    sources = sorted(p["class"] for p in plugins if p.get("type") == "source")
    detail = f"{len(sinks)} sink and {len(sources)} source connector plugin(s)"
    if sinks:
        detail += ": " + ", ".join(s.rsplit(".", 1)[-1] for s in sinks)
    return ProbeResult(
        reachable=True,
        capabilities=("connectors",),
        version=str(info["version"]) if info.get("version") else None,
        detail=detail,
    )


# -- secrets ----------------------------------------------------------------------------------


@dataclass
class Resolved:
    """A connector config with its references resolved (in memory only)."""

    config: dict[str, str]
    referenced: set[str] = field(default_factory=set)  # keys whose value had a reference
    values: list[str] = field(default_factory=list)  # what the references resolved to
    secrets: list[str] = field(default_factory=list)  # the values that look secret
    missing: list[str] = field(default_factory=list)


def resolve(
    config: Mapping[str, str], variables: Mapping[str, str], runtime: Mapping[str, Any]
) -> Resolved:
    """Resolve ``${VAR}``, ``${VAR:-default}``, ``$$`` and ``{{secret:section.key}}``."""
    result = Resolved({})
    for key, text in config.items():
        secret_key = bool(_SECRET_KEY.search(key))

        def variable(match: re.Match[str], key: str = key, secret_key: bool = secret_key) -> str:
            if match.group(0) == "$$":
                return "$"
            name, sep, default = match.group(1).partition(":-")
            value = variables.get(name)
            if value is None or (sep and value == ""):
                if sep:
                    return default
                result.missing.append(name)
                return ""
            result.referenced.add(key)
            result.values.append(value)
            if secret_key or _SECRET_NAME.search(name):
                result.secrets.append(value)
            return value

        def marker(match: re.Match[str], key: str = key) -> str:
            section, attribute = match.group(1), match.group(2)
            value = getattr(runtime.get(section), attribute, None)
            if value is None:
                result.missing.append(f"runtime.{section}.{attribute}")
                return ""
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            result.referenced.add(key)
            result.values.append(text)
            result.secrets.append(text)
            return text

        value = _REFERENCE.sub(variable, text) if "$" in text else text
        result.config[key] = _SECRET_MARKER.sub(marker, value) if "{{secret:" in value else value
    result.missing = sorted(set(result.missing))
    return result


def _missing_error(name: str, missing: Sequence[str]) -> RemoteError:
    return RemoteError(
        f"connector {name} references variable(s) not set in this environment: "
        + ", ".join(missing),
        hint="set them in the environment or in .env / .env.<env> (they are read at apply)",
    )


# -- plan -------------------------------------------------------------------------------------


def desired_config(artifact: Artifact, project: str) -> dict[str, str]:
    """The artifact's config (references unresolved) plus the keys that mark it as sluice's."""
    declared = {str(k): str(v) for k, v in artifact.spec["config"].items()}
    return declared | {MARK_PROJECT: project, MARK_DECLARED: ",".join(sorted(declared))}


def is_owned(name: str, config: Mapping[str, Any], project: str) -> bool:
    return name.startswith(f"{project}-") and config.get(MARK_PROJECT) == project


def config_diff(
    desired: Mapping[str, str], resolved: Resolved, live: Mapping[str, Any] | None
) -> dict[str, tuple[Any, Any]]:
    """Key -> (live, desired) for each declared or sluice key that differs, secrets masked.

    A key recorded as declared the last time and declared no more is shown as removed.
    """
    live = live or {}
    recorded = [k for k in str(live.get(MARK_DECLARED) or "").split(",") if k]
    keys = set(resolved.config) | (set(recorded) - set(resolved.config))
    diff: dict[str, tuple[Any, Any]] = {}
    for key in sorted(keys):
        want = resolved.config.get(key)
        have = live.get(key)
        have = None if have is None else str(have)
        if want == have:
            continue
        if key in resolved.referenced:  # the reference, never its value
            shown_live, shown_want = (MASK if have is not None else None), desired.get(key)
        elif _SECRET_KEY.search(key):
            shown_live = MASK if have is not None else None
            shown_want = MASK if want is not None else None
        else:
            shown_live, shown_want = have, want
        diff[key] = (shown_live, shown_want)
    if len(diff) > 1:  # the record of declared keys changes with them: they say it already
        diff.pop(MARK_DECLARED, None)
    return diff


@dataclass
class PlanInput:
    """What the planner needs, read from the project and from one look at the cluster."""

    project: str
    artifacts: Sequence[Artifact]  # this plugin's, for the selected nodes
    project_names: set[str]  # every connector the whole project declares
    nodes: Mapping[str, str]  # artifact key -> node unique id
    live: Mapping[str, Mapping[str, Any]]  # GET /connectors?expand=info&expand=status
    plugins: Sequence[Mapping[str, Any]]  # GET /connector-plugins
    variables: Mapping[str, str]
    runtime: Mapping[str, Any] = field(default_factory=dict)
    locate: Callable[[str], Location | None] = lambda _uid: None
    missing_topics: set[str] = field(default_factory=set)  # dead letter topics not there yet
    destroy: bool = False
    restart_failed: bool = False


def live_config(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not entry:
        return None
    info = entry.get("info") or {}
    config = info.get("config")
    return dict(config) if isinstance(config, Mapping) else None


def live_status(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not entry:
        return None
    status = entry.get("status")
    return dict(status) if isinstance(status, Mapping) else None


def plan_changes(given: PlanInput) -> list[Change]:
    """Every change the connectors need; every class the cluster lacks at once as one error."""
    changes: list[Change] = []
    if given.destroy:
        for artifact in given.artifacts:
            entry = given.live.get(artifact.name)
            if entry is not None:
                node = given.nodes.get(artifact.key)
                changes.append(_delete(artifact.name, node, entry, "sluice destroy", given.project))
        return changes
    installed = {str(p.get("class")): str(p.get("type", "")) for p in given.plugins}
    errors: list[SluiceError] = []
    for artifact in given.artifacts:
        node = given.nodes.get(artifact.key)
        try:
            _check_class(artifact, node, installed, given)
            change = plan_connector(artifact, node, given)
        except SluiceError as exc:
            errors.append(exc)
            continue
        changes.append(change)
    if errors:
        raise errors[0] if len(errors) == 1 else ProjectErrors(errors)
    changes += plan_orphans(given)
    return changes


def _check_class(
    artifact: Artifact, node: str | None, installed: Mapping[str, str], given: PlanInput
) -> None:
    wanted = str(artifact.spec["config"].get("connector.class", ""))
    if wanted in installed:
        return
    sink = "topics" in artifact.spec["config"] or "topics.regex" in artifact.spec["config"]
    kind = "sink" if sink else "source"
    same_kind = sorted(c for c, t in installed.items() if t == kind)
    listed = ", ".join(same_kind) if same_kind else "none"
    raise PlanError(
        f"connector {artifact.name}: class {wanted} is not installed on the Kafka Connect "
        f"cluster; installed {kind} connectors: {listed}",
        location=given.locate(node) if node else None,
        hint="install the connector's plugin on every worker (plugin.path) and restart them, "
        "or use one of the installed classes",
    )


def plan_connector(artifact: Artifact, node: str | None, given: PlanInput) -> Change:
    desired = desired_config(artifact, given.project)
    resolved = resolve(desired, given.variables, given.runtime)
    if resolved.missing:
        raise _missing_error(artifact.name, resolved.missing)
    entry = given.live.get(artifact.name)
    live = live_config(entry)
    payload: dict[str, Any] = {"config": desired}
    topic_diff: dict[str, tuple[Any, Any]] = {}
    dlq = artifact.spec.get("dlq")
    if dlq:
        payload["dlq"] = dict(dlq)
        if dlq["topic"] in given.missing_topics:
            topic_diff[DLQ_DIFF] = (None, dlq["topic"])
    if live is None:
        diff = config_diff(desired, resolved, None) | topic_diff
        return Change(
            PLUGIN,
            "create",
            KIND,
            artifact.name,
            node=node,
            diff=diff,
            payload=payload,
            stage=DELIVERY,
        )
    diff = config_diff(desired, resolved, live) | topic_diff
    status = live_status(entry) or {}
    failing = failed_parts(status)
    reasons = []
    if live.get(MARK_PROJECT) != given.project:
        reasons.append("adopts a connector of that name that sluice did not create")
    if diff:
        if failing and given.restart_failed:
            payload["restart"] = True
            reasons.append("then restarts what failed")
        return Change(
            PLUGIN,
            "update",
            KIND,
            artifact.name,
            node=node,
            diff=diff,
            reason="; ".join(reasons) or None,
            payload=payload,
            stage=DELIVERY,
        )
    if failing and given.restart_failed:
        payload["restart"] = True
        states = {what: ("FAILED", "RUNNING") for what, _ in failing}
        return Change(
            PLUGIN,
            "update",
            KIND,
            artifact.name,
            node=node,
            diff=states,
            reason=f"restart failed: {failure_of(status)}",
            payload=payload,
            stage=DELIVERY,
        )
    return Change(PLUGIN, "none", KIND, artifact.name, node=node, stage=DELIVERY)


def plan_orphans(given: PlanInput) -> list[Change]:
    """Connectors this project made whose model left it (deleted only with --prune)."""
    changes = []
    for name, entry in sorted(given.live.items()):
        config = live_config(entry) or {}
        if name in given.project_names or not is_owned(name, config, given.project):
            continue
        changes.append(_delete(name, None, entry, "its model left the project", given.project))
    return changes


def _delete(
    name: str, node: str | None, entry: Mapping[str, Any], why: str, project: str
) -> Change:
    state = ((live_status(entry) or {}).get("connector") or {}).get("state", "EXISTS")
    diff: dict[str, tuple[Any, Any]] = {"state": (state, None)}
    payload: dict[str, Any] = {}
    config = live_config(entry) or {}
    if is_owned(name, config, project) and config.get(DLQ_KEY):
        # the dead letter topic sluice created for this connector goes with it
        payload["dlq_topic"] = str(config[DLQ_KEY])
        diff[DLQ_DIFF] = (payload["dlq_topic"], None)
    return Change(
        PLUGIN,
        "delete",
        KIND,
        name,
        node=node,
        diff=diff,
        destructive=True,
        reason=why,
        payload=payload,
        stage=DELIVERY,
    )


def _locator(context: RunContext) -> Callable[[str], Location | None]:
    def locate(uid: str) -> Location | None:
        try:
            return context.project.origin(uid).locate("connector", "class")
        except (KeyError, LookupError, AttributeError):
            return None

    return locate


def plan(artifacts: Sequence[Artifact], context: RunContext) -> list[Change]:
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if connect_config(context.runtime) is None or (context.destroy and not own):
        return []
    with _client(context) as client:
        live = client.connectors()
        plugins = client.plugins() if own and not context.destroy else []
    topics = {str(a.spec["dlq"]["topic"]) for a in own if a.spec.get("dlq")}
    missing = set()
    if topics and not context.destroy:
        missing = {t for t in topics if not dead_letters.topic_exists(context.runtime, t)}
    given = PlanInput(
        project=context.project.info.name,
        artifacts=own,
        project_names={a.name for a in context.project_artifacts(PLUGIN) if a.kind == KIND},
        nodes=context.manifest.artifact_owners,
        live=live,
        plugins=plugins,
        variables=context.project.variables.values,
        runtime=context.runtime,
        locate=_locator(context),
        destroy=context.destroy,
        restart_failed=context.restart_failed,
        missing_topics=missing,
    )
    return plan_changes(given)


# -- apply ------------------------------------------------------------------------------------


def apply(change: Change, context: RunContext) -> ApplyResult:
    if change.action == "delete":
        with _client(context) as client:
            client.delete(change.name)
            client.wait_until_gone(change.name, DELETE_TIMEOUT)
        message = f"connector {change.name} deleted"
        topic = change.payload.get("dlq_topic")
        if topic:
            dead_letters.delete_topic(context.runtime, str(topic))
            message += f", and its dead letter topic {topic}"
        return ApplyResult(change, "success", message)
    if change.action not in ("create", "update"):
        raise RemoteError(f"sluice-connect cannot {change.action} a {change.kind}")
    config = {str(k): str(v) for k, v in change.payload["config"].items()}
    resolved = resolve(config, context.project.variables.values, context.runtime)
    if resolved.missing:
        raise _missing_error(change.name, resolved.missing)
    for secret in resolved.secrets:
        context.project.redact.add(secret)
    masked = [v for v in resolved.values if len(v) >= 4]
    created = ""
    if change.payload.get("dlq") and dead_letters.create_topic(
        context.runtime, change.payload["dlq"]
    ):
        created = f"; dead letter topic {change.payload['dlq']['topic']} created"
    with _client(context, secrets=masked) as client:
        code = client.put_config(change.name, resolved.config)
        grace = 0.0
        if change.payload.get("restart") or context.restart_failed:
            time.sleep(0.5)  # let the worker take the new config before asking what failed
            status = client.status(change.name) or {}
            if failed_parts(status):
                client.restart(change.name)
                grace = RESTART_GRACE
        status = wait_until_running(client, change.name, grace)
    tasks = len(status.get("tasks") or [])
    what = "created" if code == 201 else "configured"
    message = f"connector {what}; RUNNING with {tasks} task(s){created}"
    return ApplyResult(change, "success", message)


def wait_until_running(client: ConnectClient, name: str, grace: float = 0.0) -> dict[str, Any]:
    """Until the connector and its tasks have run for SETTLE seconds; the trace if they fail.

    A restart is carried out in the background: for ``grace`` seconds after one, a FAILED
    state may still be the old one and is waited out rather than reported.
    """
    started = time.monotonic()
    deadline = started + RUNNING_TIMEOUT
    running_since: float | None = None
    status: dict[str, Any] | None = None
    while True:
        status = client.status(name)
        if status is not None:
            failure = failure_of(status)
            if failure and time.monotonic() - started >= grace:
                raise RemoteError(
                    f"connector {name}: {failure}",
                    hint="fix the cause, then run apply --restart-failed "
                    "(the status command shows the task states)",
                )
            if not failure and is_running(status):
                running_since = running_since or time.monotonic()
                if time.monotonic() - running_since >= SETTLE:
                    return status
            else:
                running_since = None
        if time.monotonic() >= deadline:
            raise RemoteError(
                f"connector {name} is not running after {RUNNING_TIMEOUT:g}s: {states_of(status)}"
            )
        time.sleep(0.5)


# -- status -----------------------------------------------------------------------------------


def status_item(node: str, name: str, entry: Mapping[str, Any] | None) -> StatusItem:
    """The connector's state, its tasks' states and, for what failed, the trace."""
    status = live_status(entry)
    if entry is None or status is None:
        return StatusItem(node, PLUGIN, name, "MISSING")
    connector = status.get("connector") or {}
    tasks = sorted(status.get("tasks") or [], key=lambda t: int(t.get("id", 0)))
    state = str(connector.get("state", "UNKNOWN"))
    if state == "RUNNING" and any(t.get("state") == "FAILED" for t in tasks):
        state = "DEGRADED"  # the connector runs, some of its tasks do not
    detail: dict[str, Any] = {
        "tasks": ", ".join(f"{t.get('id')}:{t.get('state')}" for t in tasks) or "none",
    }
    if connector.get("worker_id"):
        detail["worker"] = connector["worker_id"]
    failing = failed_parts(status)
    if failing:
        detail["error"] = "; ".join(
            f"{what}: {trace_summary(trace) or 'no trace recorded'}" for what, trace in failing
        )
        detail["trace"] = next((trace for _, trace in failing if trace), None)
    config = live_config(entry) or {}
    if config and config.get(MARK_PROJECT) is None:
        detail["managed"] = "no (sluice did not create it)"
    return StatusItem(node, PLUGIN, name, state, detail)


def status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> list[StatusItem]:
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if connect_config(context.runtime) is None or not own:
        return []
    wanted = {n.unique_id for n in nodes}
    node_of = context.manifest.artifact_owners
    with _client(context) as client:
        live = client.connectors()
    items = []
    for artifact in own:
        node = node_of.get(artifact.key, artifact.name)
        if wanted and node not in wanted:
            continue
        items.append(status_item(node, artifact.name, live.get(artifact.name)))
    return items
