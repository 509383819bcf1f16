"""Plan, apply and status of Redpanda Connect streams (sinks).

Ownership: a stream is the project's when its id is ``sluice.<project>.<model>`` and its
``redpanda`` input reads with the consumer group of that same name; only those are replaced,
and deleted (with ``--prune``) when their model left the project.

Diffs: Redpanda Connect answers ``GET /streams/{id}`` with the config it runs, defaults filled
in. Plan compares only what sluice declares (each leaf of the compiled config, references
resolved in memory) with the same place in the live config, so defaults never show up as
drift; the input's ``label`` (a hash of the declared config) tells a removed key. A leaf whose
text had a ``${VAR}`` is shown as the reference on the desired side and ``****`` on the live
one, never as its value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.errors import Location, PlanError, RemoteError, SluiceError
from sluice.naming import job_prefix
from sluice.nodes import Node
from sluice.plugin.api import ApplyResult, Artifact, Change, PlanWarning, StatusItem
from sluice.runtime import RunContext
from sluice_redpanda.client import MASK, ConnectClient, RedpandaError
from sluice_redpanda.compiler import config_of
from sluice_redpanda.config import RedpandaConfig
from sluice_redpanda.streams import BLOCK, INPUT, KIND, PLUGIN
from sluice_redpanda.variables import (
    MISSING,
    SECRET_KEY,
    Resolved,
    dotted,
    leaves,
    resolve,
    value_at,
)
from sluice_redpanda.yamltext import Path, lint_lines, to_yaml

DELIVERY = 2  # Change.stage: after topics (0) and jobs (1)
ACTIVE_TIMEOUT = 30.0  # seconds until a stream that was put reports active
POLL_INTERVAL = 0.5
LABEL = "input.label"


# -- plan -------------------------------------------------------------------------------------


def is_owned(sid: str, config: Mapping[str, Any] | None, project: str) -> bool:
    group = (((config or {}).get("input") or {}).get(INPUT) or {}).get("consumer_group")
    return sid.startswith(job_prefix(project)) and group == sid


def plan(artifacts: Sequence[Artifact], context: RunContext) -> list[Change | PlanWarning]:
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    config = config_of(context.runtime)
    if config is None or config.connect_url is None or (context.destroy and not own):
        return []
    project = context.project.info.name
    wanted = {a.name for a in context.project_artifacts(PLUGIN) if a.kind == KIND}
    try:
        with ConnectClient.from_config(config) as client:
            ids = list(client.streams())
            mine = [sid for sid in ids if sid.startswith(job_prefix(project))]
            live = {sid: client.stream(sid) for sid in mine}
    except RedpandaError as exc:
        if wanted:
            raise
        # no sink of the project runs there: only the search for orphans is lost
        return [PlanWarning(PLUGIN, f"streams of Redpanda Connect not checked: {exc.message}")]
    owners = context.manifest.artifact_owners
    if context.destroy:
        return [
            _delete(a.name, owners.get(a.key), "destroy")
            for a in own
            if is_owned(a.name, _config(live.get(a.name)), project)
        ]
    changes: list[Change | PlanWarning] = []
    for artifact in own:
        node = owners.get(artifact.key)
        changes.append(_plan_one(artifact, live.get(artifact.name), node, project, context))
    for sid, entry in sorted(live.items()):
        if sid not in wanted and is_owned(sid, _config(entry), project):
            changes.append(_delete(sid, None, "its model left the project"))
    return changes


def _config(entry: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    config = (entry or {}).get("config")
    return config if isinstance(config, Mapping) else None


def resolved_config(artifact_config: Any, context: RunContext, name: str) -> Resolved:
    """The compiled config with its references resolved; the values that look secret are
    masked in every output from now on."""
    resolved = resolve(artifact_config, context.project.variables.values)
    if resolved.missing:
        raise RemoteError(
            f"stream {name} references variable(s) not set in this environment: "
            + ", ".join(resolved.missing),
            hint="set them in the environment or in .env / .env.<env> (they are read at apply)",
        )
    for secret in resolved.secrets:
        context.project.redact.add(secret)
    return resolved


def _plan_one(
    artifact: Artifact,
    entry: Mapping[str, Any] | None,
    node: str | None,
    project: str,
    context: RunContext,
) -> Change:
    desired = artifact.spec["config"]
    resolved = resolved_config(desired, context, artifact.name)
    payload = {"id": artifact.name, "config": desired}
    live = _config(entry)
    if entry is None or live is None:
        return Change(PLUGIN, "create", KIND, artifact.name, node, payload=payload, stage=DELIVERY)
    if not is_owned(artifact.name, live, project):
        raise PlanError(
            f"Redpanda Connect already runs a stream '{artifact.name}' that this project does "
            f"not manage (its input does not read with consumer group {artifact.name})",
            hint="delete that stream (DELETE /streams/<id>), or rename the model",
        )
    diff = config_diff(desired, resolved, live)
    if not diff:
        return Change(PLUGIN, "none", KIND, artifact.name, node, stage=DELIVERY)
    return Change(
        PLUGIN,
        "update",
        KIND,
        artifact.name,
        node,
        diff,
        reason="Redpanda Connect restarts the stream with the new config",
        payload=payload,
        stage=DELIVERY,
    )


def config_diff(
    desired: Mapping[str, Any], resolved: Resolved, live: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Dotted path -> (live, desired) for each declared leaf that differs, secrets masked."""
    written = dict(leaves(desired))
    diff: dict[str, tuple[Any, Any]] = {}
    for path, want in leaves(resolved.config):
        have = value_at(live, path)
        if _same(have, want):
            continue
        shown_have = None if have is MISSING else have
        key = next((p for p in reversed(path) if isinstance(p, str)), "")
        if path in resolved.referenced:  # the reference, never its value
            shown_have, want = (MASK if shown_have is not None else None), written[path]
        elif SECRET_KEY.search(key):
            shown_have = MASK if shown_have is not None else None
            want = MASK
        diff[dotted(path)] = (shown_have, want)
    if len(diff) > 1:  # the label (a hash of the config) changes with any key: they say it
        diff.pop(LABEL, None)
    return diff


def _same(live: Any, desired: Any) -> bool:
    if live is MISSING:
        return False
    if live == desired:
        return True
    # Redpanda Connect may echo 64 as "64", or an empty section as null
    scalar = (str, int, float, bool, type(None))
    if isinstance(live, scalar) and isinstance(desired, scalar):
        return _text(live) == _text(desired)
    return desired in ({}, []) and live in ({}, [], None)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _delete(sid: str, node: str | None, why: str) -> Change:
    return Change(
        PLUGIN,
        "delete",
        KIND,
        sid,
        node,
        destructive=True,
        reason=why,
        payload={"id": sid},
        stage=DELIVERY,
    )


# -- apply ------------------------------------------------------------------------------------


def apply(change: Change, context: RunContext) -> ApplyResult:
    config = _require_config(context)
    started = time.monotonic()
    if change.action == "delete":
        with ConnectClient.from_config(config) as client:
            gone = client.delete_stream(change.payload["id"])
        return ApplyResult(change, "success", "deleted" if gone else "already gone")
    if change.action not in ("create", "update"):
        return ApplyResult(change, "skipped", f"nothing to do for {change.action}")
    resolved = resolved_config(change.payload["config"], context, change.name)
    text, lines = to_yaml(resolved.config)
    masked = [v for v in resolved.secrets if len(v) >= 4]
    with ConnectClient.from_config(config, secrets=masked) as client:
        try:
            client.put_stream(change.name, text, create=change.action == "create")
        except RedpandaError as exc:
            if exc.lints:
                raise lint_error(change, exc.lints, lines, context) from None
            raise
        uptime = _await_active(client, change.name)
    return ApplyResult(change, "success", f"active ({uptime})", time.monotonic() - started)


def _require_config(context: RunContext) -> RedpandaConfig:
    config = config_of(context.runtime)
    if config is None or config.connect_url is None:
        raise RemoteError(
            "the plan has Redpanda Connect streams but runtime.redpanda.connect_url is not set",
            hint="configure runtime.redpanda.connect_url",
        )
    return config


def _await_active(client: ConnectClient, sid: str) -> str:
    """Poll ``GET /streams/{id}`` until the stream reports active."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT
    while True:
        entry = client.stream(sid) or {}
        if entry.get("active") is True:
            return str(entry.get("uptime_str") or "running")
        if time.monotonic() >= deadline:
            raise RemoteError(
                f"stream {sid} was put but is not active after {ACTIVE_TIMEOUT:g}s",
                hint="see the logs of Redpanda Connect (its output may refuse connections)",
            )
        time.sleep(POLL_INTERVAL)


def lint_error(
    change: Change, lints: list[str], lines: Mapping[int, Path], context: RunContext
) -> SluiceError:
    """One error listing each lint of the stream's config at its field, and where the
    model's block sets that field when it does."""
    rows = []
    first: Location | None = None
    for path, what in lint_lines(lints, lines):
        where = _block_location(change.node, path, context)
        first = first or where
        field = dotted(path) if path else "(config)"
        rows.append(f"  {field}" + (f" ({where})" if where else "") + f": {what}")
    count = len(rows)
    return RemoteError(
        f"Redpanda Connect refused stream {change.name}: {count} lint error"
        f"{'s' if count != 1 else ''} in its config\n" + "\n".join(rows),
        location=first,
        hint=f"fix those fields of the model's {BLOCK}: block (see the components' "
        "reference in the Redpanda Connect docs)",
    )


def _block_location(node: str | None, path: Path | None, context: RunContext) -> Location | None:
    """Where the block sets ``path`` of the stream config; None for what sluice sets."""
    if node is None or not path:
        return None
    if path[0] == "input":
        if len(path) < 3 or path[1] != INPUT or path[2] in ("seed_brokers", "topics"):
            return None
        block_path: Path = ("input", *path[2:])
    else:
        block_path = path
    try:
        return context.project.origin(node).locate(BLOCK, *block_path, key=True)
    except (KeyError, LookupError):
        return None


# -- status -----------------------------------------------------------------------------------


def status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> list[StatusItem]:
    config = config_of(context.runtime)
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if config is None or config.connect_url is None or not own:
        return []
    project = context.project.info.name
    owners = context.manifest.artifact_owners
    items = []
    with ConnectClient.from_config(config) as client:
        for artifact in own:
            entry = client.stream(artifact.name)
            state, detail = _state(artifact, entry, project)
            items.append(
                StatusItem(owners.get(artifact.key, ""), PLUGIN, artifact.name, state, detail)
            )
    return items


def _state(
    artifact: Artifact, entry: Mapping[str, Any] | None, project: str
) -> tuple[str, dict[str, Any]]:
    wanted = artifact.spec["config"]
    detail: dict[str, Any] = {
        "topics": list(wanted["input"][INPUT]["topics"]),
        "output": ", ".join(k for k in wanted["output"] if k not in ("label", "processors")),
    }
    if entry is None:
        return "MISSING", detail
    live = _config(entry)
    detail["uptime"] = entry.get("uptime_str")
    if not is_owned(artifact.name, live, project):
        return "UNMANAGED", detail
    if value_at(live, ("input", "label")) != wanted["input"]["label"]:
        return "DRIFTED", detail
    return ("RUNNING" if entry.get("active") else "STOPPED"), detail
