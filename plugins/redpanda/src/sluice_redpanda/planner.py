"""Probe, plan, apply and status against Redpanda's Admin API.

Ownership: ``GET /v1/transform`` exposes each transform's name, topics, environment and
per-partition status, but no hash of its binary and no free-form label. sluice therefore deploys
every transform with two reserved environment variables: ``SLUICE_PROJECT`` (the project that
owns it) and ``SLUICE_WASM_SHA256`` (the SHA-256 of the binary it deployed). A transform is
managed by a project exactly when its ``SLUICE_PROJECT`` names that project: only those are
replaced, and deleted when their model left the project (with ``--prune``). A transform of the
same name that the project does not own is a plan error, never overwritten.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sluice.errors import PlanError, RemoteError
from sluice.nodes import Node
from sluice.plugin.api import ApplyResult, Artifact, Change, ProbeResult, StatusItem
from sluice.runtime import RunContext
from sluice_redpanda.client import AdminClient, ConnectClient, RedpandaError
from sluice_redpanda.compiler import KIND, PLUGIN, config_of, sha256_of, wasm_file
from sluice_redpanda.config import RedpandaConfig

PROJECT_KEY = "SLUICE_PROJECT"
SHA_KEY = "SLUICE_WASM_SHA256"
DEPLOY_TIMEOUT = 60.0  # seconds until every partition of a deployed transform must run
POLL_INTERVAL = 0.5


# -- probe ------------------------------------------------------------------------------------


def probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    """Ready, brokers, cluster config (transforms, transactions), and Redpanda Connect."""
    config = config_of(runtime)
    if config is None:
        return None
    with AdminClient.from_config(config, timeout) as admin:
        admin.ready()
        brokers = admin.brokers()
        cluster = admin.cluster_config()
    capabilities = ["users"]
    parts = [f"{len(brokers)} broker{'s' if len(brokers) != 1 else ''}"]
    if cluster.get("data_transforms_enabled") is True:
        capabilities.insert(0, "transforms")
    else:
        parts.append("data_transforms_enabled is false: no transforms")
    transactions = cluster.get("enable_transactions")
    parts.append(
        "transactions " + ("disabled" if transactions is False else "enabled")
        if transactions is not None
        else "transactions unknown"
    )
    if config.connect_url is not None:
        try:
            with ConnectClient.from_config(config, timeout) as connect:
                connect.ready()
        except RedpandaError as exc:
            parts.append(f"Redpanda Connect not ready: {exc.message}")
        else:
            capabilities.append("redpanda_connect")
            parts.append("Redpanda Connect ready")
    versions = sorted({str(b["version"]) for b in brokers if b.get("version")})
    return ProbeResult(
        reachable=True,
        capabilities=tuple(capabilities),
        version=", ".join(versions) or None,
        detail="; ".join(parts),
    )


# -- plan -------------------------------------------------------------------------------------


def environment_of(transform: Mapping[str, Any]) -> dict[str, str]:
    """The ``environment`` list of a transform (``[{"key", "value"}]``) as a dict."""
    found = {}
    for item in transform.get("environment") or []:
        if isinstance(item, Mapping) and "key" in item:
            found[str(item["key"])] = str(item.get("value", ""))
    return found


def deployed_environment(spec: Mapping[str, Any], project: str) -> dict[str, str]:
    """The environment sluice deploys: the user's plus the reserved ownership keys."""
    return {**spec["environment"], PROJECT_KEY: project, SHA_KEY: spec["wasm_sha256"]}


def metadata(spec: Mapping[str, Any], project: str) -> dict[str, Any]:
    """The metadata JSON of ``POST /v1/transform/deploy``."""
    env = deployed_environment(spec, project)
    return {
        "name": spec["name"],
        "input_topic": spec["input_topic"],
        "output_topics": list(spec["output_topics"]),
        "environment": [{"key": k, "value": env[k]} for k in sorted(env)],
    }


def _owned(transform: Mapping[str, Any], project: str) -> bool:
    return environment_of(transform).get(PROJECT_KEY) == project


def require_config(context: RunContext) -> RedpandaConfig:
    config = config_of(context.runtime)
    if config is None:
        raise RemoteError(
            "the project has Redpanda transforms but no runtime.redpanda",
            hint="configure runtime.redpanda.admin_url",
        )
    return config


def plan(artifacts: Sequence[Artifact], context: RunContext) -> list[Change]:
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    config = config_of(context.runtime)
    if config is None:
        if own:
            require_config(context)
        return []
    project = context.project.info.name
    with AdminClient.from_config(config) as admin:
        live = {str(t.get("name")): t for t in admin.transforms()}
    managed = {name: t for name, t in live.items() if _owned(t, project)}
    owners = context.manifest.artifact_owners
    if context.destroy:
        return [_delete(a.name, owners.get(a.key), "destroy") for a in own if a.name in managed]
    changes = [_plan_one(a, live.get(a.name), owners.get(a.key), project, context) for a in own]
    wanted = {a.name for a in context.project_artifacts(PLUGIN) if a.kind == KIND}
    for name in sorted(managed):
        if name not in wanted:
            changes.append(_delete(name, None, "its model left the project"))
    return changes


def _plan_one(
    artifact: Artifact,
    live: Mapping[str, Any] | None,
    node: str | None,
    project: str,
    context: RunContext,
) -> Change:
    spec = artifact.spec
    payload = {
        "metadata": metadata(spec, project),
        "wasm": str(wasm_file(context.project.root, spec["wasm_path"])),
        "wasm_sha256": spec["wasm_sha256"],
    }
    if live is None:
        return Change(PLUGIN, "create", KIND, artifact.name, node, payload=payload)
    if not _owned(live, project):
        raise PlanError(
            f"Redpanda already has a transform '{artifact.name}' that this project does not "
            f"manage (its environment has no {PROJECT_KEY}={project}); sluice will not replace it",
            hint="delete that transform (rpk transform delete), or rename the model",
        )
    live_env = environment_of(live)
    desired_env = deployed_environment(spec, project)
    diff: dict[str, tuple[Any, Any]] = {}
    if live.get("input_topic") != spec["input_topic"]:
        diff["input_topic"] = (live.get("input_topic"), spec["input_topic"])
    if list(live.get("output_topics") or []) != list(spec["output_topics"]):
        diff["output_topics"] = (live.get("output_topics"), list(spec["output_topics"]))
    if live_env.get(SHA_KEY) != spec["wasm_sha256"]:
        diff["wasm_sha256"] = (live_env.get(SHA_KEY), spec["wasm_sha256"])
    user_live = {k: v for k, v in live_env.items() if k not in (PROJECT_KEY, SHA_KEY)}
    user_desired = {k: v for k, v in desired_env.items() if k not in (PROJECT_KEY, SHA_KEY)}
    if user_live != user_desired:
        diff["environment"] = (user_live, user_desired)
    if not diff:
        return Change(PLUGIN, "none", KIND, artifact.name, node)
    return Change(
        PLUGIN,
        "replace",
        KIND,
        artifact.name,
        node,
        diff,
        reason="a transform is redeployed as a whole",
        payload=payload,
    )


def _delete(name: str, node: str | None, why: str) -> Change:
    return Change(
        PLUGIN, "delete", KIND, name, node, destructive=True, reason=why, payload={"name": name}
    )


# -- apply ------------------------------------------------------------------------------------


def apply(change: Change, context: RunContext) -> ApplyResult:
    config = require_config(context)
    started = time.monotonic()
    with AdminClient.from_config(config) as admin:
        if change.action in ("create", "replace"):
            wasm = _read_checked(change)
            admin.deploy_transform(change.payload["metadata"], wasm)
            partitions = _await_running(admin, change.name)
            return ApplyResult(
                change,
                "success",
                f"deployed; {partitions} partition{'s' if partitions != 1 else ''} running",
                time.monotonic() - started,
            )
        if change.action == "delete":
            gone = admin.delete_transform(change.payload["name"])
            return ApplyResult(change, "success", "deleted" if gone else "already gone")
    return ApplyResult(change, "skipped", f"nothing to do for {change.action}")


def _read_checked(change: Change) -> bytes:
    path = Path(change.payload["wasm"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"transform '{change.name}': cannot read {path}: {exc}") from None
    if sha256_of(data) != change.payload["wasm_sha256"]:
        raise PlanError(
            f"transform '{change.name}': {path} changed since the plan was made",
            hint="run sluice plan (or apply) again",
        )
    return data


def _await_running(admin: AdminClient, name: str) -> int:
    """Poll ``GET /v1/transform`` until every partition of ``name`` reports ``running``."""
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    states: dict[str, int] = {}
    while True:
        transform = next((t for t in admin.transforms() if t.get("name") == name), None)
        statuses = list((transform or {}).get("status") or [])
        states = {}
        for item in statuses:
            state = str(item.get("status", "unknown"))
            states[state] = states.get(state, 0) + 1
        if statuses and set(states) == {"running"}:
            return len(statuses)
        if "errored" in states:
            broken = sorted(
                int(s.get("partition", -1)) for s in statuses if s.get("status") == "errored"
            )
            raise RemoteError(
                f"transform '{name}' errored on partition(s) {', '.join(map(str, broken))}",
                hint="see the broker logs (rpk transform logs)",
            )
        if time.monotonic() >= deadline:
            seen = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no partitions"
            raise RemoteError(
                f"transform '{name}' was deployed but not every partition runs after "
                f"{DEPLOY_TIMEOUT:g}s ({seen})"
            )
        time.sleep(POLL_INTERVAL)


# -- status -----------------------------------------------------------------------------------


def status(
    nodes: Sequence[Node], artifacts: Sequence[Artifact], context: RunContext
) -> list[StatusItem]:
    config = config_of(context.runtime)
    own = [a for a in artifacts if a.plugin == PLUGIN and a.kind == KIND]
    if config is None or not own:
        return []
    project = context.project.info.name
    with AdminClient.from_config(config) as admin:
        live = {str(t.get("name")): t for t in admin.transforms()}
    owners = context.manifest.artifact_owners
    items = []
    for artifact in own:
        transform = live.get(artifact.name)
        detail: dict[str, Any] = {
            "input_topic": artifact.spec["input_topic"],
            "output_topics": list(artifact.spec["output_topics"]),
        }
        if transform is None:
            state = "MISSING"
        else:
            statuses = [str(s.get("status")) for s in transform.get("status") or []]
            detail["partitions"] = {s: statuses.count(s) for s in sorted(set(statuses))}
            if environment_of(transform).get(SHA_KEY) != artifact.spec["wasm_sha256"]:
                state = "DRIFTED"
            elif "errored" in statuses:
                state = "ERRORED"
            elif statuses and all(s == "running" for s in statuses):
                state = "RUNNING"
            else:
                state = "PENDING"
            if not _owned(transform, project):
                state = "UNMANAGED"
        items.append(StatusItem(owners.get(artifact.key, ""), PLUGIN, artifact.name, state, detail))
    return items
