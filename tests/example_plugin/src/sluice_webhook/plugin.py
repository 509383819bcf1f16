"""The hook implementations of the webhook plugin: thin, each hands over to a module.

Run-time hooks receive a run context; the plugin only reads ``context.runtime`` (the validated
``runtime.*`` sections), ``context.destroy`` and ``context.timeout``, and reads them with
``getattr`` so any object with those attributes will do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.plugin import hookimpl
from sluice.plugin.api import (
    ApplyResult,
    Artifact,
    Change,
    ConfigSection,
    DevService,
    LineageEdge,
    Materialization,
    PlanWarning,
    ProbeResult,
    StatusItem,
    TestResult,
)
from sluice_webhook import PLUGIN, __version__
from sluice_webhook.compiler import KIND, compile_acl, compile_webhook, is_webhook
from sluice_webhook.config import WebhookRuntime, WebhookTarget
from sluice_webhook.planner import (
    apply_registry_change,
    plain_http_warnings,
    plan_registry_changes,
)
from sluice_webhook.registry import Registry, release_lock, take_lock
from sluice_webhook.relay import check_url, relay_service

TEST_TYPE = "webhook_reachable"


def _registry(runtime: Mapping[str, Any]) -> Registry | None:
    section = runtime.get("webhook")
    return Registry(section.registry_dir) if isinstance(section, WebhookRuntime) else None


def _context_registry(context: Any) -> Registry | None:
    return _registry(getattr(context, "runtime", None) or {})


# -- config ------------------------------------------------------------------------------------


@hookimpl
def sluice_config_sections() -> Sequence[ConfigSection]:
    return [
        ConfigSection(
            "runtime",
            "webhook",
            WebhookRuntime,
            capabilities=("webhooks",),
            description="the relay registry directory",
        ),
        ConfigSection("model", "webhook", WebhookTarget, description="where a webhook model posts"),
    ]


# -- probe -------------------------------------------------------------------------------------


@hookimpl
def sluice_probe(runtime: Mapping[str, Any], timeout: float) -> ProbeResult | None:
    registry = _registry(runtime)
    if registry is None:
        return None
    if not registry.is_writable():
        detail = f"registry directory {registry.directory} is missing or not writable"
        return ProbeResult(reachable=False, detail=detail)
    count = sum(1 for kind, _ in registry.records() if kind == KIND)
    detail = f"{count} webhook(s) registered in {registry.directory}"
    return ProbeResult(True, ("webhooks",), version=__version__, detail=detail)


# -- materialize -------------------------------------------------------------------------------


@hookimpl
def sluice_materializations() -> Sequence[Materialization]:
    return [
        Materialization(
            name=KIND,
            needs=("webhooks",),
            description="forward the records of the model's from: input to an HTTP URL",
            sql="forbidden",
            output_topic=False,
        )
    ]


@hookimpl
def sluice_compile(node: Any, context: Any) -> Sequence[Artifact] | None:
    return [compile_webhook(node, context)] if is_webhook(node) else None


@hookimpl
def sluice_plan(
    artifacts: Sequence[Artifact], context: Any
) -> Sequence[Change | PlanWarning] | None:
    registry = _context_registry(context)
    if registry is None:
        return None
    project = getattr(context, "project_artifacts", None)
    changes = plan_registry_changes(
        artifacts,
        registry,
        destroy=getattr(context, "destroy", False),
        project=project(PLUGIN) if project else None,
    )
    return [*changes, *plain_http_warnings(artifacts)]


@hookimpl
def sluice_apply_started(context: Any) -> None:
    registry = _context_registry(context)
    if registry is not None and registry.is_writable():
        take_lock(registry.directory)


@hookimpl
def sluice_apply_finished(context: Any, results: Sequence[ApplyResult]) -> None:
    registry = _context_registry(context)
    if registry is not None:
        release_lock(registry.directory)


@hookimpl
def sluice_apply(change: Change, context: Any) -> ApplyResult | None:
    if change.plugin != PLUGIN:
        return None
    registry = _context_registry(context)
    if registry is None:
        return ApplyResult(change, "error", "runtime.webhook is not configured")
    return apply_registry_change(change, registry)


@hookimpl
def sluice_apply_batch(changes: Sequence[Change], context: Any) -> Sequence[ApplyResult] | None:
    # a registry directory has no bulk API; the hook shows the shape: one result per change
    registry = _context_registry(context)
    if registry is None:
        return None
    return [apply_registry_change(change, registry) for change in changes]


@hookimpl
def sluice_status(
    nodes: Sequence[Any], artifacts: Sequence[Artifact], context: Any
) -> Sequence[StatusItem] | None:
    registry = _context_registry(context)
    if registry is None:
        return None
    wanted = {node.unique_id for node in nodes}
    items = []
    for artifact in artifacts:
        uid = f"model.{artifact.name}"
        if artifact.plugin != PLUGIN or uid not in wanted:
            continue
        record = registry.get(artifact.kind, artifact.name)
        state = "MISSING" if record is None else "REGISTERED"
        in_sync = record is not None and record.spec == artifact.spec
        detail = {"file": str(registry.path(artifact.kind, artifact.name)), "in_sync": in_sync}
        items.append(StatusItem(uid, PLUGIN, f"{artifact.kind}:{artifact.name}", state, detail))
    return items


# -- test --------------------------------------------------------------------------------------


@hookimpl
def sluice_test_types() -> Sequence[str]:
    return [TEST_TYPE]


@hookimpl
def sluice_run_test(test: Any, context: Any) -> TestResult | None:
    if getattr(test.spec, "type", None) != TEST_TYPE:
        return None  # another plugin's kind of test
    registry = _context_registry(context)
    record = registry.get(KIND, test.spec.model) if registry else None
    if record is None:
        message = f"webhook '{test.spec.model}' is not registered; run apply first"
        return TestResult(test.unique_id, "fail", message, failures=1)
    ok, message = check_url(record.spec["url"], getattr(context, "timeout", 5.0))
    return TestResult(test.unique_id, "pass" if ok else "fail", message, failures=0 if ok else 1)


# -- secure ------------------------------------------------------------------------------------


@hookimpl
def sluice_secure(node: Any, context: Any) -> Sequence[Artifact] | None:
    acl = compile_acl(node) if is_webhook(node) else None
    return [acl] if acl else None


# -- lineage -----------------------------------------------------------------------------------


@hookimpl
def sluice_lineage(manifest: Any, context: Any) -> Sequence[LineageEdge] | None:
    if context is not None:
        return None  # the registry knows nothing at run time that the artifacts do not
    edges = []
    for uid, artifacts in sorted(manifest.artifacts.items()):
        for artifact in artifacts:
            if artifact.plugin == PLUGIN and artifact.kind == KIND:
                target = f"webhook:{artifact.spec['url']}"
                columns = {c["name"]: [c["name"]] for c in artifact.spec["columns"]}
                edges.append(LineageEdge(uid, target, "data", columns))
    return edges


# -- dev ---------------------------------------------------------------------------------------


@hookimpl
def sluice_dev_services() -> Sequence[DevService]:
    return [relay_service()]
